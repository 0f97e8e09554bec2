//! Binding: syntax tree + catalog → typed plan.
//!
//! Resolves table and column names (unquoted names fold to lower case, as in
//! PostgreSQL), types every expression, inserts the implicit casts
//! PostgreSQL would, infers parameter types from their context, checks
//! grouping rules, and decides from the WHERE clause which shard a
//! statement must go to. Constructs outside the supported slice fail with
//! 0A000 naming the construct.

use std::collections::HashMap;
use std::sync::Arc;

use sqlparser::ast;
use tessera_types::array::Elem;
use tessera_types::datetime::interval::{IntervalFields, IntervalTypmod};
use tessera_types::datetime::{self, TimeContext};
use tessera_types::schema::{SchemaId, INFORMATION_SCHEMA, PG_CATALOG};
use tessera_types::{sqlstate, Catalog, ColumnDef, DataType, Error, Result, TableDef, Value};

use crate::array::ArrayFn;
use crate::engine::ColumnDesc;
use crate::expr::{BinaryOp, Clock, Expr, Function, Subquery, SubqueryKind, SubqueryRows};
use crate::json::JsonFn;
use crate::names::{Names, QualifiedName};
use crate::parser::Parsed;
use crate::plan::*;
use crate::sequence::SequenceOp;
use crate::shard::Relation;
use crate::srf::TableFn;
use crate::system::{CatalogFn, SystemCatalog, SystemName};

mod decorrelate;
mod roles;
mod row;
mod types;

pub(crate) use types::{enum_array_value, enum_value, replace_value, NOT_NULL as DOMAIN_NOT_NULL};

/// The OID a table reports in RowDescription: stable, derived from its id.
pub fn table_oid(table: &TableDef) -> u32 {
    16384 + table.id
}

/// Keys and indexes order their values: json has no order at all (as in
/// PostgreSQL), and jsonb's is not the order its key encoding keeps.
fn keyable(columns: &[ColumnDef], key: &[usize]) -> Result<()> {
    for &i in key {
        match columns.get(i).map(|c| c.data_type) {
            Some(DataType::Json) => {
                return Err(Error::new(
                    sqlstate::UNDEFINED_OBJECT,
                    "data type json has no default operator class for access method \"btree\"",
                )
                .with_hint("You must specify an operator class for the index or define a default operator class for the data type."))
            }
            Some(DataType::Jsonb) => {
                return Err(Error::unsupported("keys and indexes over jsonb columns"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The overload of `generate_series` that takes arguments of `types`:
/// the type of its values (start and stop) and of its step. PostgreSQL's
/// forms: int4, int8, numeric (start, stop [, step]), and timestamp and
/// timestamptz (start, stop, interval); untyped literals follow the typed
/// arguments, and dates (or only literals with an interval) take the
/// preferred timestamptz.
fn series_signature(types: &[DataType]) -> Option<(DataType, DataType)> {
    use DataType as T;
    if !(2..=3).contains(&types.len()) {
        return None;
    }
    let (bounds, step) = (&types[..2], types.get(2));
    let timestamps =
        bounds.iter().any(DataType::is_datetime) || matches!(step, Some(T::Interval(_)));
    if timestamps {
        let step_ok = matches!(step, Some(T::Interval(_) | T::Unknown));
        let t = if bounds.iter().any(|t| matches!(t, T::Timestamp(_)))
            && !bounds
                .iter()
                .any(|t| matches!(t, T::TimestampTz(_) | T::Date))
        {
            T::Timestamp(None)
        } else {
            T::TimestampTz(None)
        };
        let bounds_ok = bounds.iter().all(|b| {
            matches!(
                b,
                T::Timestamp(_) | T::TimestampTz(_) | T::Date | T::Unknown
            )
        });
        return (step_ok && bounds_ok).then_some((t, T::Interval(None)));
    }
    let mut t = T::Int4;
    for arg in types {
        t = match arg {
            T::Numeric(_) => T::Numeric(None),
            T::Int8 if t == T::Int4 => T::Int8,
            T::Int2 | T::Int4 | T::Int8 | T::Unknown => t,
            _ => return None,
        };
    }
    Some((t, t))
}

/// The name a FROM function's relation goes by: its alias, or its name.
fn alias_or(alias: Option<&ast::TableAlias>, name: &str) -> String {
    alias.map_or(name.to_string(), |a| ident_name(&a.name))
}

/// The scope of a set-returning function `call` in FROM (besides a lone
/// `generate_series`) with the columns `columns`, the alias's column list
/// renaming the first ones.
fn function_scope(
    mut columns: Vec<(String, DataType)>,
    alias: Option<&ast::TableAlias>,
    name: &str,
    call: (TableFn, Vec<Expr>),
) -> Result<Scope> {
    let qualifier = alias_or(alias, name);
    if let Some(a) = alias {
        if a.columns.len() > columns.len() {
            return Err(Error::syntax(format!(
                "too many column aliases specified for function {name}"
            )));
        }
        for (c, given) in columns.iter_mut().zip(&a.columns) {
            c.0 = ident_name(&given.name);
        }
    }
    let def = TableDef {
        id: 0,
        name: qualifier.clone(),
        schema: tessera_types::schema::PG_CATALOG,
        columns: columns
            .into_iter()
            .map(|(n, t)| ColumnDef::new(n, t, false))
            .collect(),
        primary_key: vec![],
        sharding_key: vec![],
        global: false,
        tier: 0,
        checks: vec![],
        foreign_keys: vec![],
    };
    let nothing = || Expr::Literal(Value::Null);
    Ok(Scope {
        table: Some(Arc::new(def)),
        qualifier: Some(qualifier),
        series: Some(crate::plan::SeriesScan {
            start: nothing(),
            stop: nothing(),
            step: None,
            data_type: DataType::Text,
            functions: vec![call],
        }),
        ..Scope::default()
    })
}

/// A lone `generate_series` as a call among others (ROWS FROM, WITH
/// ORDINALITY).
fn series_call(series: crate::plan::SeriesScan) -> (TableFn, Vec<Expr>) {
    let mut exprs = vec![series.start, series.stop];
    exprs.extend(series.step);
    (TableFn::Series(series.data_type), exprs)
}

/// Set-returning functions that may stand in a select list, with the
/// name of the one column they return there.
fn select_list_srf(name: &str) -> bool {
    matches!(name, "unnest" | "generate_series")
        || TableFn::named(name).is_some_and(|(f, _)| !matches!(f, TableFn::Each { .. }))
}

/// A select list calling set-returning functions (`SELECT unnest(xs),
/// id FROM t`), rewritten as PostgreSQL's ProjectSet behaves into a
/// lateral call in FROM (`FROM t, LATERAL unnest(xs) AS "?srf?"("?1?")`)
/// whose columns the select list reads: a row per value, no row where the
/// function returns none. Several calls become one `ROWS FROM` item, so
/// they run in lockstep (`crate::srf::rows_from`). Under grouping,
/// aggregates or windows, the calls run after them, as in PostgreSQL:
/// the query without them becomes a derived table (`"?g?"`) computing
/// each other part of the select list, the calls' arguments and the
/// ORDER BY expressions, and the calls are lateral to it. `None` when
/// the select list calls none; the ORDER BY items to use otherwise.
fn srf_as_lateral(
    select: &ast::Select,
    order_items: &[ast::OrderByExpr],
) -> Result<Option<(ast::Select, Vec<ast::OrderByExpr>)>> {
    let has_srf = select.projection.iter().any(|item| match item {
        ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
            calls_srf(e)
        }
        _ => false,
    });
    if !has_srf {
        return Ok(None);
    }
    let grouped = !matches!(&select.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty())
        || select.having.is_some()
        || select.projection.iter().any(|i| match i {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                any_call(e, &|f| {
                    f.over.is_some() || is_aggregate_name(&function_name(f))
                })
            }
            _ => false,
        });
    let mut split = SrfSplit {
        grouped,
        calls: Vec::new(),
        inner: Vec::new(),
    };
    let mut projection = Vec::with_capacity(select.projection.len());
    let mut names = Vec::new();
    for item in &select.projection {
        let (e, name) = match item {
            ast::SelectItem::UnnamedExpr(e) => (e, column_name(e)),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr, ident_name(alias)),
            _ if grouped => {
                return Err(Error::unsupported(
                    "* beside set-returning functions in the select list of a grouped query",
                ))
            }
            other => {
                projection.push(other.clone());
                continue;
            }
        };
        if !grouped && !calls_srf(e) {
            projection.push(item.clone());
            continue;
        }
        let mut e = e.clone();
        split.rewrite(&mut e)?;
        names.push(name.clone());
        projection.push(ast::SelectItem::ExprWithAlias {
            expr: e,
            alias: ast::Ident::with_quote('"', name),
        });
    }
    let mut order = order_items.to_vec();
    if grouped {
        // ORDER BY names an output column, or is computed before the
        // calls like the rest of the grouped query.
        for o in order.iter_mut() {
            let output = match &o.expr {
                ast::Expr::Value(v) => matches!(v.value, ast::Value::Number(..)),
                ast::Expr::Identifier(i) => names.contains(&ident_name(i)),
                _ => false,
            };
            if !output {
                if calls_srf(&o.expr) {
                    return Err(Error::unsupported(
                        "set-returning functions in ORDER BY of a grouped query",
                    ));
                }
                o.expr = split.inner_column(o.expr.clone());
            }
        }
    }
    let call_factor = |calls: Vec<ast::Function>| -> ast::TableFactor {
        let columns = (1..=calls.len())
            .map(|n| ast::TableAliasColumnDef::from_name(srf_column(n)))
            .collect();
        let alias = Some(ast::TableAlias {
            name: ast::Ident::with_quote('"', SRF_ALIAS),
            columns,
        });
        match <[ast::Function; 1]>::try_from(calls) {
            Ok([one]) => ast::TableFactor::Function {
                lateral: true,
                name: one.name.clone(),
                args: match one.args {
                    ast::FunctionArguments::List(list) => list.args,
                    _ => vec![],
                },
                alias,
            },
            Err(calls) => ast::TableFactor::Function {
                lateral: true,
                name: ast::ObjectName::from(vec![ast::Ident::with_quote('"', ROWS_FROM)]),
                args: calls
                    .into_iter()
                    .map(|f| {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Function(
                            f,
                        )))
                    })
                    .collect(),
                alias,
            },
        }
    };
    let mut rewritten = select.clone();
    rewritten.projection = projection;
    if grouped {
        let mut inner = select.clone();
        inner.distinct = None;
        inner.projection = split
            .inner
            .drain(..)
            .enumerate()
            .map(|(n, expr)| ast::SelectItem::ExprWithAlias {
                expr,
                alias: ast::Ident::with_quote('"', grouped_column(n + 1)),
            })
            .collect();
        let query = ast::Query {
            with: None,
            body: Box::new(ast::SetExpr::Select(Box::new(inner))),
            order_by: None,
            limit_clause: None,
            fetch: None,
            locks: vec![],
            for_clause: None,
            settings: None,
            format_clause: None,
            pipe_operators: vec![],
        };
        rewritten.from = vec![ast::TableWithJoins {
            relation: ast::TableFactor::Derived {
                lateral: false,
                subquery: Box::new(query),
                alias: Some(ast::TableAlias {
                    name: ast::Ident::with_quote('"', GROUPED_ALIAS),
                    columns: vec![],
                }),
            },
            joins: vec![],
        }];
        rewritten.selection = None;
        rewritten.group_by = ast::GroupByExpr::Expressions(vec![], vec![]);
        rewritten.having = None;
        rewritten.named_window = vec![];
    }
    let factor = call_factor(std::mem::take(&mut split.calls));
    match rewritten.from.last_mut() {
        Some(last) => last.joins.push(ast::Join {
            relation: factor,
            global: false,
            join_operator: ast::JoinOperator::CrossJoin(ast::JoinConstraint::None),
        }),
        None => rewritten.from.push(ast::TableWithJoins {
            relation: factor,
            joins: vec![],
        }),
    }
    Ok(Some((rewritten, order)))
}

/// The name of the internal FROM function several set-returning calls of
/// a select list become: their rows side by side (ROWS FROM).
const ROWS_FROM: &str = "?rows from?";

/// The FROM alias of the derived table a grouped query with
/// set-returning calls in its select list becomes.
const GROUPED_ALIAS: &str = "?g?";

/// The column of the select list's `n`th set-returning call.
fn srf_column(n: usize) -> String {
    format!("?{n}?")
}

/// The `n`th column of the grouped query under set-returning calls.
fn grouped_column(n: usize) -> String {
    format!("?g{n}?")
}

/// Whether `e` calls a set-returning function (outside subqueries).
fn calls_srf(e: &ast::Expr) -> bool {
    any_call(e, &|f| select_list_srf(&function_name(f)))
}

/// How `srf_as_lateral` takes a select list apart.
struct SrfSplit {
    grouped: bool,
    /// The set-returning calls found, in order.
    calls: Vec<ast::Function>,
    /// Under grouping: what the grouped query computes.
    inner: Vec<ast::Expr>,
}

impl SrfSplit {
    /// A column of the grouped query computing `e`.
    fn inner_column(&mut self, e: ast::Expr) -> ast::Expr {
        self.inner.push(e);
        column_ref(GROUPED_ALIAS, &grouped_column(self.inner.len()))
    }

    /// Replaces each set-returning call in `e` by a reference to its
    /// lateral column; under grouping, every part of `e` without one by
    /// a column of the grouped query.
    fn rewrite(&mut self, e: &mut ast::Expr) -> Result<()> {
        use ast::Expr as E;
        if self.grouped && !calls_srf(e) {
            *e = self.inner_column(e.clone());
            return Ok(());
        }
        match e {
            E::Function(f) if select_list_srf(&function_name(f)) => {
                let mut call = f.clone();
                if let ast::FunctionArguments::List(list) = &mut call.args {
                    for a in list.args.iter_mut() {
                        if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                            if calls_srf(x) {
                                return Err(Error::unsupported(
                                    "a set-returning function in the arguments of another",
                                ));
                            }
                            if self.grouped {
                                *x = self.inner_column(x.clone());
                            }
                        }
                    }
                }
                if function_name(&call) == "_pg_expandarray" {
                    // In a select list it returns one record, not the two
                    // columns it returns in FROM.
                    call.name = ast::ObjectName::from(vec![ast::Ident::with_quote(
                        '"',
                        crate::srf::EXPAND_ARRAY_RECORD,
                    )]);
                }
                self.calls.push(call);
                *e = column_ref(SRF_ALIAS, &srf_column(self.calls.len()));
            }
            // `(f(x)).field`: the call inside.
            E::CompoundFieldAccess { root, .. } => self.rewrite(root)?,
            E::BinaryOp { left, right, .. }
            | E::IsDistinctFrom(left, right)
            | E::IsNotDistinctFrom(left, right) => {
                self.rewrite(left)?;
                self.rewrite(right)?;
            }
            E::UnaryOp { expr, .. } | E::Nested(expr) | E::Cast { expr, .. } => {
                self.rewrite(expr)?
            }
            E::Function(f) => {
                if let ast::FunctionArguments::List(list) = &mut f.args {
                    for a in list.args.iter_mut() {
                        if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                            self.rewrite(x)?;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Whether `e` calls a function `pred` accepts (outside subqueries).
fn any_call(e: &ast::Expr, pred: &dyn Fn(&ast::Function) -> bool) -> bool {
    use ast::Expr as E;
    match e {
        E::Function(f) => {
            pred(f)
                || matches!(&f.args, ast::FunctionArguments::List(list) if list.args.iter().any(|a| {
                    matches!(a, ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) if any_call(x, pred))
                }))
        }
        E::BinaryOp { left, right, .. }
        | E::IsDistinctFrom(left, right)
        | E::IsNotDistinctFrom(left, right) => any_call(left, pred) || any_call(right, pred),
        E::UnaryOp { expr, .. } | E::Nested(expr) | E::Cast { expr, .. } => any_call(expr, pred),
        E::CompoundFieldAccess { root, .. } => any_call(root, pred),
        _ => false,
    }
}

/// The FROM alias a select-list set-returning function becomes.
const SRF_ALIAS: &str = "?srf?";

/// `LATERAL f(…)` and `unnest(…)` (a factor of its own in the syntax
/// tree) as the plain function factor `f(…)`: functions in FROM are
/// lateral anyway.
fn function_factor(relation: &ast::TableFactor) -> Option<ast::TableFactor> {
    let (name, args, alias, with_ordinality) = match relation {
        ast::TableFactor::Function {
            name, args, alias, ..
        } => (name.clone(), args.clone(), alias.clone(), false),
        ast::TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_ordinality,
            ..
        } => (
            ast::ObjectName::from(vec![ast::Ident::new("unnest")]),
            array_exprs
                .iter()
                .map(|e| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e.clone())))
                .collect(),
            alias.clone(),
            *with_ordinality,
        ),
        _ => return None,
    };
    Some(ast::TableFactor::Table {
        name,
        alias,
        args: Some(ast::TableFunctionArgs {
            args,
            settings: None,
        }),
        with_hints: vec![],
        version: None,
        with_ordinality,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_hints: vec![],
    })
}

/// The name a dropped column takes (PostgreSQL's), which no query can
/// say unquoted.
fn is_dropped_name(name: &str) -> bool {
    name.starts_with("........pg.dropped.")
}

/// Marks column `c` dropped, under PostgreSQL's name for it.
fn mark_dropped(column: &mut ColumnDef, c: usize) {
    column.name = format!("........pg.dropped.{}........", c + 1);
    column.dropped = true;
}

/// `d op T` for a `date` expression `d` and a `timestamp` constant `T`
/// (either side), as the same comparison of `d` with a date constant, so
/// that the date is not cast per row (`l_shipdate < date '1994-01-01' +
/// interval '1' year`). `d`'s midnight is below `T` exactly when `d` is
/// below `T`'s day rounded up, and at or below `T` when `d` is at or
/// below `T`'s day; `=` holds only for a midnight `T`. `None` where no
/// such date comparison exists (`<>`, an infinite `T`).
fn date_against_timestamp(
    op: BinaryOp,
    l: &Expr,
    lt: DataType,
    r: &Expr,
    rt: DataType,
) -> Option<Expr> {
    let (date, t, op) = match (lt, rt, l, r) {
        (DataType::Date, DataType::Timestamp(_), d, Expr::Literal(Value::Timestamp(t))) => {
            (d, *t, op)
        }
        (DataType::Timestamp(_), DataType::Date, Expr::Literal(Value::Timestamp(t)), d) => {
            (d, *t, op.flipped())
        }
        _ => return None,
    };
    use tessera_types::datetime::{is_finite_timestamp, timestamp_to_date, USECS_PER_DAY};
    if !is_finite_timestamp(t) {
        return None;
    }
    let floor = timestamp_to_date(t);
    let midnight = t.rem_euclid(USECS_PER_DAY) == 0;
    let ceil = floor.checked_add(i32::from(!midnight))?;
    let day = match op {
        BinaryOp::Lt | BinaryOp::GtEq => ceil,
        BinaryOp::LtEq | BinaryOp::Gt => floor,
        BinaryOp::Eq if midnight => floor,
        _ => return None,
    };
    Some(Expr::Binary {
        op,
        left: Box::new(date.clone()),
        right: Box::new(Expr::Literal(Value::Date(day))),
    })
}

/// Whether a value's text is the same under every output style.
fn style_free(v: &Value) -> bool {
    match v {
        Value::Float4(_)
        | Value::Float8(_)
        | Value::Interval(_)
        | Value::Date(_)
        | Value::Timestamp(_)
        | Value::TimestampTz(_) => false,
        Value::Array(a) => a.items.iter().all(style_free),
        Value::Record(r) => r.fields.iter().all(style_free),
        _ => true,
    }
}

/// Whether SQL text `sql` holds an identifier (quoted or not) naming one
/// of `names`; unreadable text counts as naming them.
fn names_identifier(sql: &str, names: &[&str]) -> bool {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let Ok(tokens) = sqlparser::tokenizer::Tokenizer::new(&dialect, sql).tokenize() else {
        return true;
    };
    tokens.iter().any(|t| match t {
        sqlparser::tokenizer::Token::Word(w) => {
            let name = match w.quote_style {
                Some(_) => w.value.clone(),
                None => w.value.to_lowercase(),
            };
            names.contains(&name.as_str())
        }
        _ => false,
    })
}

/// Modifiers of a FROM item that would change its rows (TABLESAMPLE, FOR
/// SYSTEM_TIME, hints): refused rather than ignored.
fn refuse_modifiers(relation: &ast::TableFactor) -> Result<()> {
    let ast::TableFactor::Table {
        sample,
        version,
        with_hints,
        partitions,
        index_hints,
        ..
    } = relation
    else {
        return Ok(());
    };
    if let Some(sample) = sample {
        let (ast::TableSampleKind::BeforeTableAlias(s) | ast::TableSampleKind::AfterTableAlias(s)) =
            sample;
        return Err(Error::unsupported(s.to_string().trim().to_string()));
    }
    if let Some(v) = version {
        return Err(Error::unsupported(format!("FOR {v}")));
    }
    if !with_hints.is_empty() || !partitions.is_empty() || !index_hints.is_empty() {
        return Err(Error::unsupported(format!("the FROM item {relation}")));
    }
    Ok(())
}

/// `(record).field`: the field of that name of a record-typed `e`.
fn record_field(e: Expr, t: DataType, field: &str) -> Result<(Expr, DataType)> {
    let DataType::Record(shape) = t else {
        return Err(Error::new(
            sqlstate::WRONG_OBJECT_TYPE,
            format!(
                "column notation .{field} applied to type {}, which is not a composite type",
                t.name()
            ),
        ));
    };
    let Some((k, (_, field_type))) = shape
        .fields()
        .into_iter()
        .enumerate()
        .find(|(_, (name, _))| *name == field)
    else {
        return Err(Error::new(
            sqlstate::UNDEFINED_COLUMN,
            format!("could not identify column \"{field}\" in record data type"),
        ));
    };
    Ok((
        Expr::Call {
            func: Function::Field(k),
            args: vec![e],
        },
        field_type,
    ))
}

/// The column a key or index names: a plain column, not an expression.
fn key_column_name(c: &ast::IndexColumn) -> Result<String> {
    match &c.column.expr {
        ast::Expr::Identifier(i) => Ok(ident_name(i)),
        other => Err(Error::unsupported(format!("the key expression {other}"))),
    }
}

/// The positions of the columns `names` in `table`, each named once
/// (42701 with the message `twice` gives otherwise); errors in the order
/// the names come.
fn distinct_columns(
    table: &TableDef,
    names: impl IntoIterator<Item = Result<String>>,
    twice: impl Fn(&str) -> String,
) -> Result<Vec<usize>> {
    let mut positions = Vec::new();
    for n in names {
        let n = n?;
        let i = column_of(table, &n)?;
        if positions.contains(&i) {
            return Err(Error::new(sqlstate::DUPLICATE_COLUMN, twice(&n)));
        }
        positions.push(i);
    }
    Ok(positions)
}

/// The position of column `name` in `table` (42703 naming both if none).
fn column_of(table: &TableDef, name: &str) -> Result<usize> {
    table.column_index(name).ok_or_else(|| {
        Error::new(
            sqlstate::UNDEFINED_COLUMN,
            format!(
                "column \"{name}\" of relation \"{}\" does not exist",
                table.name
            ),
        )
    })
}

/// SET search_path: each value an identifier or a string, written back
/// quoted where needed and joined as PostgreSQL shows the list (`SET
/// search_path = 'a,b'` is the one schema `"a,b"`).
fn search_path_set(values: &[ast::Expr], local: bool, reset: bool) -> Result<Plan> {
    let mut entries = Vec::with_capacity(values.len());
    for v in values {
        let entry = match v {
            ast::Expr::Identifier(i)
                if i.quote_style.is_none()
                    && values.len() == 1
                    && i.value.eq_ignore_ascii_case("default") =>
            {
                return Ok(Plan::Set {
                    name: "search_path".into(),
                    value: None,
                    local,
                    reset,
                });
            }
            ast::Expr::Identifier(i) => ident_name(i),
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            other => {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{other}\""
                )))
            }
        };
        entries.push(crate::names::quote_ident(&entry));
    }
    Ok(Plan::Set {
        name: "search_path".into(),
        value: Some(entries.join(", ")),
        local,
        reset,
    })
}

pub fn ident_name(ident: &ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The parts of a dotted name, each folded as identifiers are.
fn name_parts(name: &ast::ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => Ok(ident_name(i)),
            other => Err(Error::unsupported(format!("the name {other}"))),
        })
        .collect()
}

/// A name that is not a relation's (a function, a constraint): its last
/// part, where a schema before it may only be `public`.
fn object_name(name: &ast::ObjectName) -> Result<String> {
    let parts = name_parts(name)?;
    match parts.as_slice() {
        [name] => Ok(name.clone()),
        [schema, name] if schema == "public" => Ok(name.clone()),
        [schema, _] => Err(Error::new(
            sqlstate::INVALID_SCHEMA_NAME,
            format!("schema \"{schema}\" does not exist"),
        )),
        _ => Err(Error::new(
            sqlstate::SYNTAX_ERROR,
            format!("improper qualified name (too many dotted names): {name}"),
        )),
    }
}

pub fn data_type(t: &ast::DataType) -> Result<DataType> {
    use ast::DataType as A;
    Ok(match t {
        A::Bool | A::Boolean => DataType::Bool,
        A::SmallInt(_) | A::Int2(_) => DataType::Int2,
        A::Int(_) | A::Integer(_) | A::Int4(_) => DataType::Int4,
        A::BigInt(_) | A::Int8(_) => DataType::Int8,
        A::Real | A::Float4 => DataType::Float4,
        A::DoublePrecision | A::Float8 => DataType::Float8,
        A::Float(info) => match info {
            ast::ExactNumberInfo::Precision(p) if *p <= 24 => DataType::Float4,
            _ => DataType::Float8,
        },
        A::Numeric(info) | A::Decimal(info) => match info {
            ast::ExactNumberInfo::None => DataType::Numeric(None),
            ast::ExactNumberInfo::Precision(p) => {
                DataType::Numeric(Some((numeric_precision(*p)?, 0)))
            }
            ast::ExactNumberInfo::PrecisionAndScale(p, s) => {
                let p = numeric_precision(*p)?;
                if *s < 0 || *s > p as i64 {
                    return Err(Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("NUMERIC scale {s} must be between 0 and precision {p}"),
                    ));
                }
                DataType::Numeric(Some((p, *s as u16)))
            }
        },
        A::Text | A::String(None) => DataType::Text,
        A::Bytea => DataType::Bytea,
        A::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _)) => {
            let elem = data_type(inner)?;
            match tessera_types::array::Elem::of(elem) {
                Some(e) => DataType::Array(e),
                None if matches!(elem, DataType::Array(_)) => {
                    return Err(Error::unsupported("multidimensional arrays"))
                }
                None => return Err(Error::unsupported(format!("arrays of {elem}"))),
            }
        }
        A::Uuid => DataType::Uuid,
        A::Regclass => DataType::Reg(tessera_types::RegKind::Class),
        A::JSON => DataType::Json,
        A::JSONB => DataType::Jsonb,
        A::Char(len) | A::Character(len) => DataType::Char(Some(char_length(len.as_ref())?)),
        A::Date => DataType::Date,
        A::Time(precision, tz) => {
            let p = time_precision(*precision);
            match tz {
                ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => DataType::TimeTz(p),
                _ => DataType::Time(p),
            }
        }
        A::Timestamp(precision, tz) => {
            let p = time_precision(*precision);
            match tz {
                ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => DataType::TimestampTz(p),
                _ => DataType::Timestamp(p),
            }
        }
        A::Interval { fields, precision } => {
            let fields = match fields {
                None => IntervalFields::FULL,
                Some(f) => interval_fields(f),
            };
            let precision = time_precision(*precision);
            if fields == IntervalFields::FULL && precision.is_none() {
                DataType::Interval(None)
            } else {
                DataType::Interval(Some(IntervalTypmod { fields, precision }))
            }
        }
        A::Custom(name, modifiers) => {
            let ident = match name.0.as_slice() {
                [ast::ObjectNamePart::Identifier(ident)] => ident,
                // `pg_catalog.text`: the built-in types live in pg_catalog.
                [ast::ObjectNamePart::Identifier(schema), ast::ObjectNamePart::Identifier(ident)]
                    if ident_name(schema) == "pg_catalog" =>
                {
                    ident
                }
                _ => return Err(Error::unsupported(format!("type {t}"))),
            };
            let type_name = ident_name(ident);
            if let (Some(found), []) = (catalog_type_name(&type_name), modifiers.as_slice()) {
                return Ok(found);
            }
            match (type_name.as_str(), modifiers.as_slice()) {
                ("bpchar", []) => DataType::Char(None),
                ("bpchar", [n]) => {
                    let length = n.parse::<u64>().map_err(|_| {
                        Error::syntax(format!("invalid type modifier for bpchar: {n}"))
                    })?;
                    DataType::Char(Some(char_length(Some(
                        &ast::CharacterLength::IntegerLength { length, unit: None },
                    ))?))
                }
                ("timetz", []) => DataType::TimeTz(None),
                ("timestamptz", []) => DataType::TimestampTz(None),
                // The single-byte "char" of the system catalogs.
                ("char", []) if ident.quote_style.is_some() => DataType::InternalChar,
                _ => {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("type \"{type_name}\" does not exist"),
                    ))
                }
            }
        }
        A::Varchar(len) | A::CharacterVarying(len) => {
            match len {
                None => DataType::Varchar(None),
                Some(ast::CharacterLength::IntegerLength { length, .. }) => {
                    if *length == 0 || *length > 10_485_760 {
                        return Err(Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("length for type varchar must be between 1 and 10485760, not {length}"),
                    ));
                    }
                    DataType::Varchar(Some(*length as u32))
                }
                Some(ast::CharacterLength::Max) => return Err(Error::unsupported("varchar(max)")),
            }
        }
        other => return Err(Error::unsupported(format!("type {other}"))),
    })
}

/// `json[b]_to_record(doc) AS r(a int, b text)` and `json[b]_to_recordset`
/// in FROM: each declared column is the document's member of its name
/// (`->>`, or `->` for a json or jsonb column) cast to its type, so a
/// missing member is NULL and a member that does not read as the type is
/// the cast's error. As a LATERAL subquery (the argument may read earlier
/// items); the recordset form over `json[b]_array_elements`, a row per
/// element. WITH ORDINALITY is not supported on them (0A000).
fn json_to_record_item(relation: &ast::TableFactor) -> Result<Option<ast::TableFactor>> {
    let ast::TableFactor::Table {
        name,
        args: Some(args),
        alias,
        with_ordinality,
        ..
    } = relation
    else {
        return Ok(None);
    };
    let parts = name_parts(name)?;
    let bare = match parts.as_slice() {
        [n] => n.as_str(),
        [schema, n] if schema == "pg_catalog" => n.as_str(),
        _ => return Ok(None),
    };
    let (binary, set) = match bare {
        "json_to_record" => (false, false),
        "jsonb_to_record" => (true, false),
        "json_to_recordset" => (false, true),
        "jsonb_to_recordset" => (true, true),
        _ => return Ok(None),
    };
    if *with_ordinality {
        return Err(Error::unsupported(format!("{bare}(…) WITH ORDINALITY")));
    }
    let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg))] = args.args.as_slice() else {
        return Err(no_such_function(bare));
    };
    let Some(alias) = alias.as_ref().filter(|a| !a.columns.is_empty()) else {
        return Err(Error::syntax(
            "a column definition list is required for functions returning \"record\"",
        ));
    };
    let doc_type = if binary { "jsonb" } else { "json" };
    let mut select = Vec::with_capacity(alias.columns.len());
    for c in &alias.columns {
        let Some(t) = &c.data_type else {
            return Err(Error::syntax(
                "a column definition list is required for functions returning \"record\"",
            ));
        };
        let key = ident_name(&c.name).replace('\'', "''");
        let op = match t {
            ast::DataType::JSON | ast::DataType::JSONB => "->",
            _ => "->>",
        };
        select.push(format!("(d.doc {op} '{key}')::{t} AS {}", c.name));
    }
    let check = crate::json::record_doc_name(bare);
    let from = match set {
        false => format!("(SELECT \"{check}\"(({arg})::{doc_type}) AS doc) d"),
        true => format!(
            "(SELECT \"{check}\"(e) AS doc FROM {doc_type}_array_elements(({arg})::{doc_type}) AS e) d"
        ),
    };
    let sql = format!("SELECT {} FROM {from}", select.join(", "));
    let parsed = crate::parser::parse(&sql)?;
    let Some(ast::Statement::Query(subquery)) = parsed.into_iter().next().map(|p| p.statement)
    else {
        return Err(Error::internal("json_to_record as a query"));
    };
    let alias = ast::TableAlias {
        name: alias.name.clone(),
        columns: vec![],
    };
    Ok(Some(ast::TableFactor::Derived {
        lateral: true,
        subquery,
        alias: Some(alias),
    }))
}

/// A call in FROM of catalog function `function` (also written
/// `pg_catalog.`-qualified) with one argument: the argument, the item's
/// alias and whether it asks WITH ORDINALITY. `None` for any other item.
fn catalog_function_item<'a>(
    relation: &'a ast::TableFactor,
    function: &str,
) -> Result<Option<(&'a ast::Expr, &'a Option<ast::TableAlias>, bool)>> {
    let ast::TableFactor::Table {
        name,
        args: Some(args),
        alias,
        with_ordinality,
        ..
    } = relation
    else {
        return Ok(None);
    };
    let parts = name_parts(name)?;
    let named = match parts.as_slice() {
        [f] => f == function,
        [schema, f] => schema == "pg_catalog" && f == function,
        _ => false,
    };
    if !named {
        return Ok(None);
    }
    let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg))] = args.args.as_slice() else {
        return Err(no_such_function(function));
    };
    Ok(Some((arg, alias, *with_ordinality)))
}

/// Query `sql` as a LATERAL subquery in FROM (its argument may read the
/// items before it), under `alias`, else under the name `function`.
fn lateral_query_item(
    sql: &str,
    alias: &Option<ast::TableAlias>,
    function: &str,
) -> Result<ast::TableFactor> {
    let parsed = crate::parser::parse(sql)?;
    let Some(ast::Statement::Query(subquery)) = parsed.into_iter().next().map(|p| p.statement)
    else {
        return Err(Error::internal(format!("{function} as a query")));
    };
    let alias = alias.clone().unwrap_or_else(|| ast::TableAlias {
        name: ast::Ident::new(function),
        columns: vec![],
    });
    Ok(ast::TableFactor::Derived {
        lateral: true,
        subquery,
        alias: Some(alias),
    })
}

/// `pg_options_to_table(options)` in FROM (pg_dump reads the options of
/// columns, foreign servers and wrappers with it): one row per
/// `name=value` item of the `text[]`, split at its first `=` (no `=`: a
/// NULL value), over `unnest`.
fn options_to_table_item(relation: &ast::TableFactor) -> Result<Option<ast::TableFactor>> {
    const FUNCTION: &str = "pg_options_to_table";
    let Some((arg, alias, with_ordinality)) = catalog_function_item(relation, FUNCTION)? else {
        return Ok(None);
    };
    if with_ordinality {
        return Err(Error::unsupported("pg_options_to_table(…) WITH ORDINALITY"));
    }
    let sql = format!(
        "SELECT split_part(o.item, '=', 1) AS option_name, \
         CASE WHEN strpos(o.item, '=') > 0 THEN substr(o.item, strpos(o.item, '=') + 1) END \
         AS option_value FROM unnest(({arg})::text[]) AS o(item)"
    );
    lateral_query_item(&sql, alias, FUNCTION).map(Some)
}

/// `pg_partition_ancestors(rel) [WITH ORDINALITY]` in FROM: no table is a
/// partition, so a relation's one ancestor is itself, at depth 1.
fn partition_ancestors_item(relation: &ast::TableFactor) -> Result<Option<ast::TableFactor>> {
    const FUNCTION: &str = "pg_partition_ancestors";
    let Some((arg, alias, with_ordinality)) = catalog_function_item(relation, FUNCTION)? else {
        return Ok(None);
    };
    let ordinality = match with_ordinality {
        true => ", 1::bigint AS ordinality",
        false => "",
    };
    let sql = format!("SELECT ({arg})::regclass AS relid{ordinality}");
    lateral_query_item(&sql, alias, FUNCTION).map(Some)
}

/// Type names written as plain identifiers (also `pg_catalog.`-qualified):
/// the built-in types' own names, `oid` and the `reg*` aliases, and the
/// system catalogs' types (`aclitem` is text here).
fn catalog_type_name(name: &str) -> Option<DataType> {
    use tessera_types::RegKind;
    Some(match name {
        "oid" => DataType::Oid,
        "regclass" => DataType::Reg(RegKind::Class),
        "regtype" => DataType::Reg(RegKind::Type),
        "regproc" | "regprocedure" => DataType::Reg(RegKind::Proc),
        "regnamespace" => DataType::Reg(RegKind::Namespace),
        "regrole" => DataType::Reg(RegKind::Role),
        "aclitem" | "text" => DataType::Text,
        "name" => DataType::Name,
        "int2vector" => DataType::Int2Vector,
        "oidvector" => DataType::OidVector,
        "bool" | "boolean" => DataType::Bool,
        "int2" | "smallint" => DataType::Int2,
        "int4" | "int" | "integer" => DataType::Int4,
        "int8" | "bigint" => DataType::Int8,
        "float4" | "real" => DataType::Float4,
        "float8" => DataType::Float8,
        "numeric" => DataType::Numeric(None),
        "varchar" => DataType::Varchar(None),
        "date" => DataType::Date,
        "bytea" => DataType::Bytea,
        "uuid" => DataType::Uuid,
        "json" => DataType::Json,
        "jsonb" => DataType::Jsonb,
        _ => return None,
    })
}

/// The length of `char(n)` (1 when not given), checked as PostgreSQL does.
fn char_length(len: Option<&ast::CharacterLength>) -> Result<u32> {
    match len {
        None => Ok(1),
        Some(ast::CharacterLength::IntegerLength { length, .. }) => {
            if *length == 0 {
                Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    "length for type char must be at least 1",
                ))
            } else if *length > 10_485_760 {
                Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    "length for type char cannot exceed 10485760",
                ))
            } else {
                Ok(*length as u32)
            }
        }
        Some(ast::CharacterLength::Max) => Err(Error::unsupported("char(max)")),
    }
}

/// A fractional-second precision: past 6 it is reduced to 6, as
/// PostgreSQL does (with a warning).
fn time_precision(precision: Option<u64>) -> Option<u8> {
    precision.map(|p| p.min(datetime::PRECISION_MAX as u64) as u8)
}

fn interval_fields(f: &ast::IntervalFields) -> IntervalFields {
    use ast::IntervalFields as F;
    match f {
        F::Year => IntervalFields::YEAR,
        F::Month => IntervalFields::MONTH,
        F::Day => IntervalFields::DAY,
        F::Hour => IntervalFields::HOUR,
        F::Minute => IntervalFields::MINUTE,
        F::Second => IntervalFields::SECOND,
        F::YearToMonth => IntervalFields::YEAR_TO_MONTH,
        F::DayToHour => IntervalFields::DAY_TO_HOUR,
        F::DayToMinute => IntervalFields::DAY_TO_MINUTE,
        F::DayToSecond => IntervalFields::DAY_TO_SECOND,
        F::HourToMinute => IntervalFields::HOUR_TO_MINUTE,
        F::HourToSecond => IntervalFields::HOUR_TO_SECOND,
        F::MinuteToSecond => IntervalFields::MINUTE_TO_SECOND,
    }
}

/// The unit name an `EXTRACT` field stands for (`epoch`, `year`…).
fn extract_unit(field: &ast::DateTimeField) -> String {
    match field {
        ast::DateTimeField::Custom(ident) => ident_name(ident),
        other => other.to_string().to_lowercase(),
    }
}

fn numeric_precision(p: u64) -> Result<u16> {
    let max = tessera_types::types::NUMERIC_PRECISION_MAX;
    if p == 0 || p > u64::from(max) {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("NUMERIC precision {p} must be between 1 and {max}"),
        ));
    }
    Ok(p as u16)
}

/// Whether converting a column from `from` to `to` keeps every value that
/// converts at all as it was (equal, with the same key bytes): between the
/// integer types, to a numeric that rounds nothing, between the text types
/// without a shorter limit. A value that does not fit fails the conversion.
fn keeps_values(from: DataType, to: DataType) -> bool {
    use DataType as T;
    match (from, to) {
        (a, b) if a.is_integer() && b.is_integer() => true,
        (T::Numeric(_), T::Numeric(None)) => true,
        (T::Numeric(Some((_, s1))), T::Numeric(Some((_, s2)))) => s2 >= s1,
        (T::Text | T::Varchar(_), T::Text | T::Varchar(None)) => true,
        (T::Varchar(Some(n)), T::Varchar(Some(m))) => m >= n,
        _ => false,
    }
}

/// The columns visible to expressions: one table (or none), or with
/// several FROM items (joins) their columns side by side.
#[derive(Default)]
struct Scope {
    table: Option<Arc<TableDef>>,
    qualifier: Option<String>,
    /// `table` is not stored but the one column of `generate_series`.
    series: Option<crate::plan::SeriesScan>,
    /// Several FROM items, or one that is not a stored table: set instead
    /// of the fields above.
    items: Vec<ScopeItem>,
    /// How the items are joined (set with `items`).
    tree: Option<JoinTree>,
    /// Columns merged by USING or NATURAL: an unqualified name means this.
    merged: Vec<(String, Expr, DataType)>,
    /// What `*` expands to: a column reference and its name.
    star: Vec<(ast::Expr, String)>,
}

/// A FROM item among several.
struct ScopeItem {
    qualifier: String,
    /// Name and type of each column.
    columns: Vec<(String, DataType)>,
    /// Merged into a USING or NATURAL column: not found unqualified.
    hidden: Vec<bool>,
    /// Where its columns start in the joined row.
    offset: usize,
    /// Taken when the plan is built.
    input: Option<ItemInput>,
    /// On the side of an outer join that may be all NULLs.
    nullable: bool,
    /// Inside a correlated subquery: equalities of the item's values (over
    /// the joined row) to the outer row's, by which its gathered rows are
    /// found for each outer row instead of joined in full.
    probe: Vec<(Expr, Expr)>,
    /// A function in FROM returning one column: its name (the alias)
    /// also stands for that column, as in PostgreSQL.
    scalar_function: bool,
    /// A pg_catalog table: its oid, what its system column `tableoid`
    /// reads (see [`tableoid`]).
    catalog_oid: Option<u32>,
}

enum ItemInput {
    /// A stored table, read with the conditions pushed down to it.
    Table(Arc<TableDef>),
    /// A `generate_series` or a subquery: its rows as they come.
    Query(Box<SelectPlan>),
    /// A correlated aggregate's table grouped by its correlation keys
    /// (see `decorrelate`), and the groups it is expected to give.
    Grouped(Box<SelectPlan>, f64),
    /// A LATERAL subquery reading earlier items: its plan, and its
    /// arguments over the joined row.
    Lateral(Box<SelectPlan>, Vec<Expr>),
}

/// How FROM items are joined. Items are numbered in the order they appear,
/// so every subtree covers a contiguous range of them.
enum JoinTree {
    Item(usize),
    Join {
        kind: JoinKind,
        left: Box<JoinTree>,
        right: Box<JoinTree>,
        /// The condition's conjuncts, over the whole joined row.
        on: Vec<Expr>,
        /// The items it covers: `first..end`, the right side from `split`.
        first: usize,
        split: usize,
        end: usize,
    },
}

impl JoinTree {
    fn range(&self) -> (usize, usize) {
        match self {
            JoinTree::Item(i) => (*i, *i + 1),
            JoinTree::Join { first, end, .. } => (*first, *end),
        }
    }

    fn all_inner(&self) -> bool {
        match self {
            JoinTree::Item(_) => true,
            JoinTree::Join {
                kind, left, right, ..
            } => *kind == JoinKind::Inner && left.all_inner() && right.all_inner(),
        }
    }
}

/// The columns of a query named by `alias`, its column list renaming the
/// first ones.
fn alias_columns(alias: &ast::TableAlias, descs: &[ColumnDesc]) -> Result<Vec<(String, DataType)>> {
    if alias.columns.len() > descs.len() {
        return Err(Error::new(
            sqlstate::INVALID_COLUMN_REFERENCE,
            format!(
                "table \"{}\" has {} columns available but {} columns specified",
                ident_name(&alias.name),
                descs.len(),
                alias.columns.len()
            ),
        ));
    }
    Ok(descs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let name = alias
                .columns
                .get(i)
                .map_or_else(|| d.name.clone(), |c| ident_name(&c.name));
            (name, d.data_type)
        })
        .collect())
}

/// A FROM item's columns: its own, renamed by `alias` where it names them.
fn item_columns(
    alias: Option<&ast::TableAlias>,
    descs: &[ColumnDesc],
) -> Result<Vec<(String, DataType)>> {
    match alias {
        Some(a) => alias_columns(a, descs),
        None => Ok(descs
            .iter()
            .map(|d| (d.name.clone(), d.data_type))
            .collect()),
    }
}

/// A fragment passing its input's first `width` columns through.
fn identity_fragment(width: usize) -> ScanFragment {
    ScanFragment {
        table: None,
        primary_key: None,
        index: None,
        series: None,
        lookup: None,
        filter: None,
        output: FragmentOutput::Project((0..width).map(Expr::Column).collect()),
    }
}

/// Whether a FROM anywhere in `body` (outside subqueries in expressions)
/// names the relation `name` without a schema.
fn names_relation(body: &ast::SetExpr, name: &str) -> bool {
    fn factor(f: &ast::TableFactor, name: &str) -> bool {
        match f {
            ast::TableFactor::Table { name: n, .. } => {
                matches!(n.0.as_slice(), [ast::ObjectNamePart::Identifier(i)] if ident_name(i) == name)
            }
            ast::TableFactor::Derived { subquery, .. } => names_relation(&subquery.body, name),
            ast::TableFactor::NestedJoin {
                table_with_joins, ..
            } => twj(table_with_joins, name),
            _ => false,
        }
    }
    fn twj(t: &ast::TableWithJoins, name: &str) -> bool {
        factor(&t.relation, name) || t.joins.iter().any(|j| factor(&j.relation, name))
    }
    match body {
        ast::SetExpr::Select(s) => s.from.iter().any(|t| twj(t, name)),
        ast::SetExpr::Query(q) => names_relation(&q.body, name),
        ast::SetExpr::SetOperation { left, right, .. } => {
            names_relation(left, name) || names_relation(right, name)
        }
        _ => false,
    }
}

/// PostgreSQL's rule for DISTINCT ON with ORDER BY: the sort starts with
/// the DISTINCT ON expressions (in any order), so that "first of each"
/// means something.
fn check_distinct_on(on: &[usize], order_by: &[SortKey]) -> Result<()> {
    let mut left: Vec<usize> = on.to_vec();
    for k in order_by {
        if left.is_empty() {
            break;
        }
        match left.iter().position(|c| *c == k.column) {
            Some(i) => {
                left.swap_remove(i);
            }
            None => {
                return Err(Error::new(
                    sqlstate::INVALID_COLUMN_REFERENCE,
                    "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
                ))
            }
        }
    }
    Ok(())
}

/// The grouping sets of a GROUP BY list (ROLLUP, CUBE and GROUPING SETS
/// expanded, several items crossed), and whether it has any beyond the
/// one plain GROUP BY set.
fn grouping_sets(group_by: &[ast::Expr]) -> (Vec<Vec<ast::Expr>>, bool) {
    let mut sets: Vec<Vec<ast::Expr>> = vec![vec![]];
    let mut has_sets = false;
    for g in group_by {
        let options: Vec<Vec<ast::Expr>> = match g {
            ast::Expr::Rollup(lists) => {
                has_sets = true;
                (0..=lists.len())
                    .rev()
                    .map(|n| lists[..n].concat())
                    .collect()
            }
            ast::Expr::Cube(lists) => {
                has_sets = true;
                let n = lists.len().min(12);
                (0..1u32 << n)
                    .rev()
                    .map(|mask| {
                        (0..n)
                            .filter(|i| mask & (1 << (n - 1 - i)) != 0)
                            .flat_map(|i| lists[i].clone())
                            .collect()
                    })
                    .collect()
            }
            ast::Expr::GroupingSets(lists) => {
                has_sets = true;
                lists.clone()
            }
            other => vec![vec![other.clone()]],
        };
        sets = sets
            .iter()
            .flat_map(|s| {
                options.iter().map(move |o| {
                    let mut set = s.clone();
                    set.extend(o.iter().cloned());
                    set
                })
            })
            .collect();
    }
    (sets, has_sets)
}

/// `SET (a, b) = (x, y)` and `SET (a, b) = (SELECT x, y …)` as one
/// assignment per column (PostgreSQL's multiple-column UPDATE items). A
/// sub-SELECT becomes one scalar subquery per column, each reading its
/// own column of the same query; that reads it once per column, so one
/// calling a volatile function (whose columns could then come from
/// different rows) is refused rather than answered wrongly.
fn expand_assignments(assignments: &[ast::Assignment]) -> Result<Vec<ast::Assignment>> {
    let mut out = Vec::with_capacity(assignments.len());
    for a in assignments {
        let ast::AssignmentTarget::Tuple(names) = &a.target else {
            out.push(a.clone());
            continue;
        };
        let mismatch = || Error::syntax("number of columns does not match number of values");
        let values: Vec<ast::Expr> = match &a.value {
            ast::Expr::Tuple(items) => items.clone(),
            ast::Expr::Function(f) if function_name(f) == "row" => match &f.args {
                ast::FunctionArguments::List(list) => list
                    .args
                    .iter()
                    .map(|arg| match arg {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Ok(e.clone()),
                        other => Err(Error::syntax(format!(
                            "syntax error at or near \"{other}\""
                        ))),
                    })
                    .collect::<Result<_>>()?,
                _ => vec![],
            },
            ast::Expr::Subquery(query) => {
                let ast::SetExpr::Select(select) = &*query.body else {
                    return Err(Error::unsupported(
                        "a multiple-column UPDATE item from a sub-SELECT with UNION, VALUES or the like",
                    ));
                };
                if select.projection.iter().any(|p| {
                    !matches!(
                        p,
                        ast::SelectItem::UnnamedExpr(_) | ast::SelectItem::ExprWithAlias { .. }
                    )
                }) {
                    return Err(Error::unsupported(
                        "a multiple-column UPDATE item from a sub-SELECT with *",
                    ));
                }
                let text = query.to_string().to_ascii_lowercase();
                const VOLATILE: &[&str] = &[
                    "random(",
                    "nextval(",
                    "setval(",
                    "clock_timestamp(",
                    "timeofday(",
                    "gen_random_uuid(",
                ];
                if VOLATILE.iter().any(|f| text.contains(f)) {
                    return Err(Error::unsupported(
                        "a multiple-column UPDATE item from a sub-SELECT calling a volatile function",
                    ));
                }
                if select.projection.len() != names.len() {
                    return Err(mismatch());
                }
                (0..names.len())
                    .map(|i| {
                        let mut q = (**query).clone();
                        if let ast::SetExpr::Select(sel) = &mut *q.body {
                            sel.projection = vec![sel.projection[i].clone()];
                        }
                        ast::Expr::Subquery(Box::new(q))
                    })
                    .collect()
            }
            _ => return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "source for a multiple-column UPDATE item must be a sub-SELECT or ROW() expression",
            )),
        };
        if values.len() != names.len() {
            return Err(mismatch());
        }
        for (name, value) in names.iter().zip(values) {
            out.push(ast::Assignment {
                target: ast::AssignmentTarget::ColumnName(name.clone()),
                value,
            });
        }
    }
    Ok(out)
}

/// The column `SET col = …` assigns.
fn assignment_column(table: &TableDef, a: &ast::Assignment) -> Result<usize> {
    let ast::AssignmentTarget::ColumnName(name) = &a.target else {
        return Err(Error::unsupported("multiple-column assignment"));
    };
    let n = match name.0.last() {
        Some(ast::ObjectNamePart::Identifier(i)) => ident_name(i),
        _ => return Err(Error::syntax(format!("syntax error at or near \"{name}\""))),
    };
    table.column_index(&n).ok_or_else(|| {
        Error::new(
            sqlstate::UNDEFINED_COLUMN,
            format!(
                "column \"{n}\" of relation \"{}\" does not exist",
                table.name
            ),
        )
    })
}

/// Splits a correlated query's conditions into equalities between an
/// expression over its own row and one over the outer row only (probe
/// keys: `(inner, outer)`), and the rest.
fn probe_keys(conditions: Vec<Expr>) -> (Vec<(Expr, Expr)>, Vec<Expr>) {
    let reads_row = |e: &Expr| {
        let mut any = false;
        e.for_each_column(&mut |_| any = true);
        any
    };
    let inner = |e: &Expr| reads_row(e) && !e.uses_outer();
    let outer = |e: &Expr| e.uses_outer() && !reads_row(e);
    let mut keys = Vec::new();
    let mut rest = Vec::new();
    for c in conditions {
        match c {
            Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
            } if inner(&left) && outer(&right) => keys.push((*left, *right)),
            Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
            } if outer(&left) && inner(&right) => keys.push((*right, *left)),
            other => rest.push(other),
        }
    }
    (keys, rest)
}

/// 42883 for a call no function takes, as `name(types)`.
fn no_such_function(call: &str) -> Error {
    Error::new(
        sqlstate::UNDEFINED_FUNCTION,
        format!("function {call} does not exist"),
    )
    .with_hint("No function matches the given name and argument types. You might need to add explicit type casts.")
}

/// A name that is not in a scope (so an enclosing query's may have it).
fn is_not_found(e: &Error) -> bool {
    e.code == sqlstate::UNDEFINED_COLUMN || e.code == sqlstate::UNDEFINED_TABLE
}

/// An identifier that reads back exactly as `name`.
fn quoted(name: &str) -> ast::Ident {
    if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        ast::Ident::new(name)
    } else {
        ast::Ident::with_quote('"', name)
    }
}

fn missing_from_entry(q: &str) -> Error {
    Error::new(
        sqlstate::UNDEFINED_TABLE,
        format!("missing FROM-clause entry for table \"{q}\""),
    )
}

/// `tableoid` of a pg_catalog table in FROM: the catalog's oid, NULL on a
/// row an outer join made up (its first column, NOT NULL in every
/// catalog, is NULL only there).
fn tableoid(item: &ScopeItem, name: &str) -> Option<(Expr, DataType)> {
    let table_oid = item.catalog_oid.filter(|_| name == "tableoid")?;
    let value = Expr::Literal(Value::Int8(table_oid.into()));
    let e = match item.nullable {
        false => value,
        true => Expr::Case {
            operand: None,
            whens: vec![(
                Expr::IsNull {
                    expr: Box::new(Expr::Column(item.offset)),
                    negated: true,
                },
                value,
            )],
            otherwise: None,
        },
    };
    Some((e, DataType::Oid))
}

/// `name` is not a column of a stored table in scope: if it is one of
/// PostgreSQL's system columns (`ctid`, `xmin` …, which pg_attribute lists
/// for every table), 0A000 naming it; Tessera's rows have no such values.
fn system_column(qualifier: Option<&str>, name: &str) -> Error {
    if crate::system::SYSTEM_COLUMNS
        .iter()
        .any(|(n, _)| *n == name)
    {
        let shown = match qualifier {
            Some(q) => format!("{q}.{name}"),
            None => name.to_string(),
        };
        return Error::unsupported(format!("the system column {shown}"))
            .with_hint("Tessera lists the system columns in pg_attribute but cannot read them.");
    }
    undefined_column(qualifier, name)
}

/// A name's error (42703 no such column, 42702 ambiguous, 42P01 no such
/// relation) placed at where `ident` is written, as PostgreSQL places it.
fn located_at(e: Error, ident: &ast::Ident) -> Error {
    match e.code {
        sqlstate::UNDEFINED_COLUMN | sqlstate::AMBIGUOUS_COLUMN | sqlstate::UNDEFINED_TABLE => {
            let at = ident.span.start;
            e.with_name_location(&ident.value, at.line, at.column)
        }
        _ => e,
    }
}

/// A missing relation's error placed at its name in FROM.
fn relation_located(e: Error, relation: &ast::TableFactor) -> Error {
    let ast::TableFactor::Table { name, .. } = relation else {
        return e;
    };
    match (e.code, name.0.first()) {
        (sqlstate::UNDEFINED_TABLE, Some(ast::ObjectNamePart::Identifier(first))) => {
            located_at(e, first)
        }
        _ => e,
    }
}

fn undefined_column(qualifier: Option<&str>, name: &str) -> Error {
    let message = match qualifier {
        Some(q) => format!("column {q}.{name} does not exist"),
        None => format!("column \"{name}\" does not exist"),
    };
    Error::new(sqlstate::UNDEFINED_COLUMN, message)
}

impl Scope {
    /// The names of this scope without its inputs: what a subquery inside
    /// resolves outer references against.
    fn names(&self) -> Scope {
        Scope {
            table: self.table.clone(),
            qualifier: self.qualifier.clone(),
            series: self.series.clone(),
            items: self
                .items
                .iter()
                .map(|it| ScopeItem {
                    qualifier: it.qualifier.clone(),
                    columns: it.columns.clone(),
                    hidden: it.hidden.clone(),
                    offset: it.offset,
                    input: None,
                    nullable: it.nullable,
                    probe: Vec::new(),
                    scalar_function: it.scalar_function,
                    catalog_oid: it.catalog_oid,
                })
                .collect(),
            tree: None,
            merged: self.merged.clone(),
            star: Vec::new(),
        }
    }

    fn resolve(&self, qualifier: Option<&str>, name: &str) -> Result<(usize, DataType)> {
        match self.resolve_expr(qualifier, name)? {
            (Expr::Column(i), t) => Ok((i, t)),
            _ => Err(Error::unsupported(format!(
                "the merged column \"{name}\" here"
            ))),
        }
    }

    fn resolve_expr(&self, qualifier: Option<&str>, name: &str) -> Result<(Expr, DataType)> {
        if !self.items.is_empty() {
            return self.resolve_in_items(qualifier, name);
        }
        if let (Some(q), Some(own)) = (qualifier, &self.qualifier) {
            if q != own {
                return Err(missing_from_entry(q));
            }
        }
        if let (Some(q), None) = (qualifier, &self.qualifier) {
            return Err(missing_from_entry(q));
        }
        let found = self
            .table
            .as_ref()
            .and_then(|t| t.column_index(name).map(|i| (i, t.columns[i].data_type)));
        // A function returning one column: its name stands for it too.
        let found = found.or_else(|| match (&self.table, &self.qualifier) {
            (Some(t), Some(q))
                if self.series.is_some()
                    && t.columns.len() == 1
                    && qualifier.is_none()
                    && q == name =>
            {
                Some((0, t.columns[0].data_type))
            }
            _ => None,
        });
        found
            .map(|(i, t)| (Expr::Column(i), t))
            .ok_or_else(|| match (&self.table, &self.series) {
                (Some(_), None) => system_column(qualifier, name),
                _ => undefined_column(qualifier, name),
            })
    }

    fn resolve_in_items(&self, qualifier: Option<&str>, name: &str) -> Result<(Expr, DataType)> {
        if let Some(q) = qualifier {
            let item = self.item_named(q)?;
            // `*` names a column that shares its name by its place.
            if let Some(k) = name
                .split_once(STAR_PLACE)
                .and_then(|(_, k)| k.parse::<usize>().ok())
                .filter(|k| *k < item.columns.len())
            {
                return Ok((Expr::Column(item.offset + k), item.columns[k].1));
            }
            let mut matches = item
                .columns
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| n == name);
            let Some((c, _)) = matches.next() else {
                if let Some(found) = tableoid(item, name) {
                    return Ok(found);
                }
                return Err(match item.input {
                    Some(ItemInput::Table(_)) => system_column(qualifier, name),
                    _ => undefined_column(qualifier, name),
                });
            };
            if matches.next().is_some() {
                return Err(Error::new(
                    sqlstate::AMBIGUOUS_COLUMN,
                    format!("column reference \"{name}\" is ambiguous"),
                ));
            }
            return Ok((Expr::Column(item.offset + c), item.columns[c].1));
        }
        match self.unqualified(name, 0, self.items.len()).as_slice() {
            [] => match self
                .items
                .iter()
                .find(|it| it.scalar_function && it.qualifier == name)
            {
                Some(it) => Ok((Expr::Column(it.offset), it.columns[0].1)),
                None if name == "tableoid"
                    && self.items.iter().any(|it| it.catalog_oid.is_some()) =>
                {
                    let mut found = self.items.iter().filter_map(|it| tableoid(it, name));
                    match (found.next(), found.next()) {
                        (Some(one), None) => Ok(one),
                        _ => Err(Error::new(
                            sqlstate::AMBIGUOUS_COLUMN,
                            format!("column reference \"{name}\" is ambiguous"),
                        )),
                    }
                }
                None if self
                    .items
                    .iter()
                    .any(|it| matches!(it.input, Some(ItemInput::Table(_)))) =>
                {
                    Err(system_column(None, name))
                }
                None => Err(undefined_column(None, name)),
            },
            [one] => Ok(one.clone()),
            _ => Err(Error::new(
                sqlstate::AMBIGUOUS_COLUMN,
                format!("column reference \"{name}\" is ambiguous"),
            )),
        }
    }

    /// What the unqualified `name` may mean among the items `lo..hi`: a
    /// merged column of theirs, or a column of one not merged away.
    fn unqualified(&self, name: &str, lo: usize, hi: usize) -> Vec<(Expr, DataType)> {
        let within = |e: &Expr| {
            let used = self.items_of(e);
            !used.is_empty() && used.iter().all(|i| (lo..hi).contains(i))
        };
        let mut found: Vec<(Expr, DataType)> = self
            .merged
            .iter()
            .filter(|(n, e, _)| n == name && within(e))
            .map(|(_, e, t)| (e.clone(), *t))
            .collect();
        for item in &self.items[lo..hi] {
            for (c, (n, t)) in item.columns.iter().enumerate() {
                if n == name && !item.hidden[c] {
                    found.push((Expr::Column(item.offset + c), *t));
                }
            }
        }
        found
    }

    /// The FROM item named `q` (its alias, or the table's name).
    fn item_named(&self, q: &str) -> Result<&ScopeItem> {
        self.items
            .iter()
            .find(|it| it.qualifier == q)
            .ok_or_else(|| missing_from_entry(q))
    }

    /// The index of the FROM item whose columns include position `column`
    /// of the row.
    fn item_index(&self, column: usize) -> Option<usize> {
        self.items
            .iter()
            .position(|it| it.offset <= column && column < it.offset + it.columns.len())
    }

    /// The FROM item whose columns include position `column` of the row.
    fn item_at(&self, column: usize) -> Option<&ScopeItem> {
        self.item_index(column).map(|i| &self.items[i])
    }

    /// The row width of the items `first..end`.
    fn width(&self, first: usize, end: usize) -> usize {
        self.items[first..end]
            .iter()
            .map(|it| it.columns.len())
            .sum()
    }

    /// The items an expression reads, as a sorted, deduplicated list.
    fn items_of(&self, e: &Expr) -> Vec<usize> {
        let mut used = Vec::new();
        e.for_each_column(&mut |c| used.extend(self.item_index(c)));
        used.sort_unstable();
        used.dedup();
        used
    }
}

/// An aggregate function call as written.
struct AggregateCall<'c> {
    name: &'c str,
    args: &'c [ast::Expr],
    distinct: bool,
    /// `count(*)`.
    star: bool,
    filter: Option<&'c ast::Expr>,
    /// `agg(x ORDER BY …)`.
    order_by: &'c [ast::OrderByExpr],
    /// An ordered-set aggregate's `WITHIN GROUP (ORDER BY …)`.
    within_group: &'c [ast::OrderByExpr],
}

/// A bound ordered-set aggregate call.
struct OrderedSetCall {
    func: AggFunc,
    value: Expr,
    value_type: DataType,
    order_by: Vec<(Expr, bool, bool)>,
    direct_arg: Option<Expr>,
    result_type: DataType,
}

/// How expressions of the statement being bound see their input.
enum Ctx<'a> {
    /// Over the scope's rows; aggregates are not allowed here (`clause` names where).
    Row { clause: &'static str },
    /// After grouping: group expressions and aggregates become columns of
    /// the grouped row `[keys…, aggregates…]`.
    Grouped {
        keys: &'a [(String, DataType)],
        /// The keys bound: a column reference that is one means it.
        key_exprs: &'a [Expr],
        /// GROUPING SETS membership of each key (empty for GROUP BY).
        sets: &'a [Vec<bool>],
        aggs: &'a mut Vec<AggCall>,
    },
}

pub struct Binder<'a> {
    catalog: &'a Catalog,
    params: Vec<Option<DataType>>,
    /// The session's zone and clock, for constants read now (`'now'`,
    /// timestamps without a zone), as PostgreSQL reads them when parsing.
    time: TimeContext,
    /// The queries enclosing the subquery being bound, innermost last.
    outer: Vec<OuterLevel>,
    /// The statement's init plans so far.
    init: Vec<InitPlan>,
    /// The WITH queries in scope, innermost last.
    ctes: Vec<CteDef>,
    /// How many work tables of recursive queries the statement has.
    work_tables: usize,
    /// While binding the select list and ORDER BY of a query with window
    /// functions: its calls so far (`Expr::Column(WINDOW_COLUMN + n)`
    /// stands for call `n` until the stage's place is known).
    windows: Option<Vec<WindowCall>>,
    /// Binding a window call's arguments: no window function may nest.
    in_window: bool,
    /// The WINDOW clause of the query whose select list is being bound.
    named_windows: Vec<(String, ast::WindowSpec)>,
    /// Whether the statement calls a sequence function.
    uses_sequences: bool,
    /// Whether it calls `current_setting` or `set_config`.
    uses_settings: bool,
    /// Whether it calls an advisory lock function that may wait.
    advisory_waits: bool,
    /// Whether it calls `pg_sleep`.
    sleeps: bool,
    /// The tables and views the statement reads (what a view depends on).
    referenced: Vec<tessera_types::TableId>,
    /// The table each data-modifying WITH query writes, and those it reads.
    modifying: Vec<(tessera_types::TableId, Vec<tessera_types::TableId>)>,
    /// While a view is being created: each select list with a `*` (by the
    /// address of its SELECT), expanded.
    stars: Option<Vec<(usize, SelectList)>>,
    /// What relation names resolve against.
    names: Names,
    /// While a view's text is being qualified: where each relation name
    /// written without a schema starts in it, and the schema it found.
    unqualified: Option<Vec<(sqlparser::tokenizer::Location, SchemaId)>>,
    /// The node's table statistics, which order inner joins.
    stats: Option<Arc<crate::stats::TableStats>>,
    /// The rows of `pg_cursors` (see [`Binder::with_cursors`]).
    cursors: Vec<Vec<Value>>,
    /// Whether the statement reads `pg_cursors`.
    reads_cursors: bool,
    /// Whether the statement reads rows made when it is bound: a catalog
    /// relation's.
    reads_system: bool,
    /// The pg_catalog view of `catalog`, made when first needed.
    system: Option<Arc<SystemCatalog>>,
    /// The session's prepared statements, for pg_prepared_statements.
    prepared: Option<&'a std::collections::BTreeMap<String, crate::engine::PreparedStatement>>,
    /// Whether the statement reads pg_prepared_statements: it is bound
    /// again each time it runs, with the session's statements of then.
    reads_prepared: bool,
    /// Errors of constant subexpressions that could not be folded (`1/0`),
    /// in the order they were bound. The subexpression stays unfolded; a
    /// COALESCE, CASE, AND or OR that folds so that it is never reached
    /// removes its errors (as PostgreSQL's constant folding never
    /// evaluates it), and the first one left is the statement's
    /// [`Statement::constant_error`], raised when it runs.
    fold_errors: Vec<Error>,
}

/// What the order of inner joins is planned on: each item's expected
/// rows, and what the conditions joining them are expected to keep.
struct JoinGraph {
    estimates: Vec<f64>,
    /// Each join condition's items (which items it connects).
    links: Vec<Vec<usize>>,
    /// Conditions other than equalities of columns: their items and the
    /// fraction of pairs they keep.
    conditions: Vec<(Vec<usize>, f64)>,
    /// Columns equal through equalities of columns (`a = b AND b = c`
    /// makes one class of a, b, c, as PostgreSQL's equivalence classes):
    /// each column's item and distinct values.
    classes: Vec<Vec<(usize, f64)>>,
}

impl JoinGraph {
    /// The rows the items `member` says are in are expected to give
    /// joined, whatever the order: their estimates times what each
    /// condition among them keeps, and for each class of equal columns,
    /// one over the distinct values of all its columns among them but the
    /// one with the fewest (two columns: one over the larger, as
    /// PostgreSQL estimates an equality; each further column as one more
    /// such join).
    fn rows(&self, member: impl Fn(usize) -> bool) -> f64 {
        let n = self.estimates.len();
        let mut rows: f64 = (0..n)
            .filter(|i| member(*i))
            .map(|i| self.estimates[i])
            .product();
        for (used, kept) in &self.conditions {
            if used.iter().all(|u| member(*u)) {
                rows *= kept;
            }
        }
        for class in &self.classes {
            let mut distinct: Vec<f64> = class
                .iter()
                .filter(|(i, _)| member(*i))
                .map(|(_, d)| d.max(1.0))
                .collect();
            distinct.sort_by(|a, b| b.total_cmp(a));
            distinct.pop();
            for d in distinct {
                rows /= d;
            }
        }
        rows.max(1.0)
    }

    /// Whether a condition connects item `next` to the items `joined`
    /// says are joined: it reads `next` and nothing not yet joined.
    fn connects(&self, next: usize, joined: impl Fn(usize) -> bool) -> bool {
        self.links
            .iter()
            .any(|used| used.contains(&next) && used.iter().all(|u| *u == next || joined(*u)))
    }
}

/// The order to join FROM items in, starting from `start`, and the rows
/// it is expected to hold in all (the sum of the joins' estimated
/// outputs): each next item is, of those a condition connects to what is
/// joined, the one whose join is expected to give the fewest rows, else
/// the smallest (a cross product, smallest first).
fn join_order(start: usize, graph: &JoinGraph) -> (Vec<usize>, f64) {
    let estimates = &graph.estimates;
    let n = estimates.len();
    let mut order = vec![start];
    let mut total = estimates[start];
    while order.len() < n {
        let output = |r: usize| graph.rows(|i| i == r || order.contains(&i));
        let remaining = (0..n).filter(|r| !order.contains(r));
        let connected = remaining
            .clone()
            .filter(|r| graph.connects(*r, |i| order.contains(&i)));
        let by_output = |a: &usize, b: &usize| {
            output(*a)
                .total_cmp(&output(*b))
                .then(estimates[*a].total_cmp(&estimates[*b]))
        };
        let by_size = |a: &usize, b: &usize| estimates[*a].total_cmp(&estimates[*b]);
        let Some(next) = connected
            .min_by(by_output)
            .or_else(|| remaining.min_by(by_size))
        else {
            break;
        };
        total += output(next);
        order.push(next);
    }
    (order, total)
}

/// Rows the planner assumes of a table no shard has counted yet, or of a
/// FROM item that is not a table.
const UNCOUNTED_ROWS: f64 = 1000.0;

/// Up to this many inner-joined items, the binder weighs every order
/// (`exhaustive_join_order`: 2^n sets of items); beyond, it goes greedy
/// from every start (`join_order`). PostgreSQL searches exhaustively up
/// to 12 items (`geqo_threshold`).
const JOIN_ORDER_EXHAUSTIVE_MAX: usize = 10;

/// The order to join FROM items in (starting from `start` when given)
/// whose joins are expected to hold the fewest rows in all, over every
/// order that never forms a cross product while a condition connects
/// another item (dynamic programming over the sets of items: the rows of
/// a set joined do not depend on the order it was joined in, see
/// [`JoinGraph::rows`], so each set keeps its cheapest way to be
/// reached). `None` past
/// [`JOIN_ORDER_EXHAUSTIVE_MAX`] items. Unlike the greedy order, it
/// can take a larger item first to avoid a large join later: TPC-H's Q5
/// joins nation, customer, orders and lineitem before supplier rather
/// than pairing the region's suppliers with its customers.
fn exhaustive_join_order(start: Option<usize>, graph: &JoinGraph) -> Option<Vec<usize>> {
    let estimates = &graph.estimates;
    let n = estimates.len();
    if n == 0 || n > JOIN_ORDER_EXHAUSTIVE_MAX {
        return None;
    }
    let within = |set: usize| move |i: usize| set & (1 << i) != 0;
    let sets = 1usize << n;
    let mut cost = vec![f64::INFINITY; sets];
    let mut last = vec![usize::MAX; sets];
    for i in (0..n).filter(|i| start.is_none_or(|s| s == *i)) {
        cost[1 << i] = estimates[i];
        last[1 << i] = i;
    }
    // Whether nothing left out of a set connects to it (then a cross
    // product is the only way on).
    let closed: Vec<bool> = (0..sets)
        .map(|set| (0..n).all(|q| within(set)(q) || !graph.connects(q, within(set))))
        .collect();
    for set in 1..sets {
        if set.count_ones() < 2 {
            continue;
        }
        let rows = graph.rows(within(set));
        for r in (0..n).filter(|r| within(set)(*r)) {
            let before = set & !(1 << r);
            let allowed = graph.connects(r, within(before)) || closed[before];
            if allowed && cost[before] + rows < cost[set] {
                cost[set] = cost[before] + rows;
                last[set] = r;
            }
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut set = sets - 1;
    while set != 0 {
        let r = last[set];
        if r == usize::MAX {
            return None;
        }
        order.push(r);
        set &= !(1 << r);
    }
    order.reverse();
    Some(order)
}

/// Whether join condition reading `used` connects item `next` to the
/// items `joined`: it reads `next` and nothing not yet joined.
fn connects(used: &[usize], next: usize, joined: &[usize]) -> bool {
    used.contains(&next) && used.iter().all(|u| *u == next || joined.contains(u))
}

/// Distinct values of a column the planner knows nothing about, as
/// PostgreSQL guesses them.
const DEFAULT_DISTINCT: f64 = 200.0;

/// A select list with `*` expanded: each expression and its column name.
type SelectList = Vec<(ast::Expr, String)>;

/// Where window call results are numbered from while binding (remapped
/// to the stage's row once the query is bound).
const WINDOW_COLUMN: usize = 1 << 30;

/// A WITH query a FROM item may name.
struct CteDef {
    name: String,
    columns: Vec<(String, DataType)>,
    body: CteBody,
    /// How many enclosing queries there were where it was defined.
    depth: usize,
}

enum CteBody {
    /// Its plan, which each reference reads (inlined).
    Plan(Box<SelectPlan>),
    /// Inside its own recursive term: the work table of this number.
    Work(usize),
    /// A data-modifying query without RETURNING: nothing to read.
    NoReturning,
}

/// A query around a subquery being bound: its names, and the columns of
/// it (or of queries further out) that the subquery reads. The `n`-th is
/// `Expr::Outer(n)` inside, and its argument `n` outside.
struct OuterLevel {
    scope: Scope,
    refs: Vec<(Option<String>, String)>,
}

fn is_aggregate_name(name: &str) -> bool {
    matches!(
        name,
        "count"
            | "sum"
            | "min"
            | "max"
            | "avg"
            | "bool_and"
            | "bool_or"
            | "every"
            | "string_agg"
            | "stddev"
            | "stddev_samp"
            | "stddev_pop"
            | "variance"
            | "var_samp"
            | "var_pop"
            | "array_agg"
            | "json_agg"
            | "jsonb_agg"
            | "json_object_agg"
            | "jsonb_object_agg"
            | "bit_and"
            | "bit_or"
            | "bit_xor"
    ) || is_ordered_set_name(name)
        || crate::plan::Regression::named(name).is_some()
}

/// The ordered-set aggregates: `name(direct args) WITHIN GROUP (ORDER BY …)`.
fn is_ordered_set_name(name: &str) -> bool {
    matches!(name, "percentile_cont" | "percentile_disc" | "mode")
}

fn function_name(f: &ast::Function) -> String {
    f.name
        .0
        .last()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => ident_name(i),
            other => other.to_string(),
        })
        .unwrap_or_default()
}

fn contains_aggregate(e: &ast::Expr) -> bool {
    contains_call(e, &|f| {
        is_aggregate_name(&function_name(f)) && f.over.is_none()
    })
}

fn contains_window(e: &ast::Expr) -> bool {
    contains_call(e, &|f| f.over.is_some())
}

/// Whether `e` has a function call `wanted` picks (outside subqueries).
fn contains_call(e: &ast::Expr, wanted: &dyn Fn(&ast::Function) -> bool) -> bool {
    use ast::Expr as E;
    let inner = |x: &ast::Expr| contains_call(x, wanted);
    match e {
        E::Function(f) => {
            if wanted(f) {
                return true;
            }
            match &f.args {
                ast::FunctionArguments::List(list) => list.args.iter().any(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => inner(x),
                    _ => false,
                }),
                _ => false,
            }
        }
        E::BinaryOp { left, right, .. }
        | E::IsDistinctFrom(left, right)
        | E::IsNotDistinctFrom(left, right) => inner(left) || inner(right),
        E::UnaryOp { expr, .. }
        | E::Nested(expr)
        | E::Cast { expr, .. }
        | E::IsNull(expr)
        | E::IsNotNull(expr)
        | E::IsTrue(expr)
        | E::IsNotTrue(expr)
        | E::IsFalse(expr)
        | E::IsNotFalse(expr) => inner(expr),
        E::InList { expr, list, .. } => inner(expr) || list.iter().any(inner),
        E::InSubquery { expr, .. } => inner(expr),
        E::AnyOp { left, .. } | E::AllOp { left, .. } => inner(left),
        E::Between {
            expr, low, high, ..
        } => inner(expr) || inner(low) || inner(high),
        E::Like { expr, pattern, .. } | E::ILike { expr, pattern, .. } => {
            inner(expr) || inner(pattern)
        }
        E::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(inner)
                || conditions
                    .iter()
                    .any(|c| inner(&c.condition) || inner(&c.result))
                || else_result.as_deref().is_some_and(inner)
        }
        _ => false,
    }
}

/// Strips casts the binder adds between string types: they change nothing.
fn needs_cast(from: DataType, to: DataType) -> bool {
    let stringy = |t: DataType| matches!(t, DataType::Text | DataType::Varchar(None));
    !(from == to
        || (stringy(from) && stringy(to))
        || (from.unconstrained() == to && to != DataType::Unknown))
}

impl<'a> Binder<'a> {
    pub fn new(
        catalog: &'a Catalog,
        param_types: &[Option<DataType>],
        time: TimeContext,
    ) -> Binder<'a> {
        Binder {
            catalog,
            params: param_types.to_vec(),
            time,
            outer: Vec::new(),
            init: Vec::new(),
            ctes: Vec::new(),
            work_tables: 0,
            windows: None,
            in_window: false,
            named_windows: Vec::new(),
            uses_sequences: false,
            uses_settings: false,
            advisory_waits: false,
            sleeps: false,
            referenced: Vec::new(),
            modifying: Vec::new(),
            stars: None,
            names: Names::default(),
            unqualified: None,
            stats: None,
            system: None,
            prepared: None,
            reads_prepared: false,
            cursors: Vec::new(),
            reads_cursors: false,
            reads_system: false,
            fold_errors: Vec::new(),
        }
    }

    /// What `pg_cursors` lists: the session's cursors.
    pub fn with_cursors(mut self, cursors: &crate::cursor::Cursors) -> Binder<'a> {
        self.cursors = cursors.rows();
        self
    }

    /// The pg_catalog relations and functions over the catalog and path
    /// this statement binds against.
    fn system(&mut self) -> Arc<SystemCatalog> {
        if self.system.is_none() {
            self.system = Some(Arc::new(SystemCatalog::new(self.catalog, &self.names)));
        }
        self.system.clone().expect("made above")
    }

    /// The pg_catalog relation or information_schema view a FROM item
    /// names (`pg_class`, or `pg_catalog.pg_class`; pg_catalog is searched
    /// before the path, as PostgreSQL does when the path does not name it;
    /// `information_schema.tables`, and `tables` when the path names
    /// information_schema and no schema before it has a `tables`).
    fn system_relation_of(&self, relation: &ast::TableFactor) -> Option<SystemName> {
        let name = self.relation_name(relation)?;
        let parts = name_parts(name).ok()?;
        let (schema, relation) = match parts.as_slice() {
            [schema, n] => (Some(schema), n),
            [db, schema, n] if *db == self.names.database => (Some(schema), n),
            [n] => (None, n),
            _ => return None,
        };
        let named = |schema: SchemaId| SystemName {
            schema,
            name: relation.clone(),
        };
        match schema.map(String::as_str) {
            Some("pg_catalog") => SystemCatalog::is_relation(relation).then(|| named(PG_CATALOG)),
            Some("information_schema") => SystemCatalog::is_information_schema_view(relation)
                .then(|| named(INFORMATION_SCHEMA)),
            Some(_) => None,
            None if SystemCatalog::is_relation(relation) => Some(named(PG_CATALOG)),
            None if SystemCatalog::is_information_schema_view(relation) => {
                // The first schema of the path holding a relation of the name.
                let first = self.names.schemas(self.catalog).into_iter().find(|s| {
                    *s == INFORMATION_SCHEMA || self.catalog.relation_exists(*s, relation)
                });
                (first == Some(INFORMATION_SCHEMA)).then(|| named(INFORMATION_SCHEMA))
            }
            None => None,
        }
    }

    /// INSERT, UPDATE or DELETE (`verb`: "insert into", "update", "delete
    /// from") of an information_schema view fails as PostgreSQL fails a
    /// write to a view it cannot update.
    fn refuse_information_schema_write(&self, name: &ast::ObjectName, verb: &str) -> Result<()> {
        let factor = table_factor_named(name);
        match self.system_relation_of(&factor) {
            Some(n) if n.is_information_schema() => Err(Error::new(
                sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("cannot {verb} view \"{}\"", n.name),
            )
            .with_detail(
                "Views that do not select from a single table or view are not automatically updatable.",
            )),
            _ => Ok(()),
        }
    }

    /// The query with its `reg*` result columns turned into the names
    /// they identify, as PostgreSQL's output functions show them (the
    /// columns keep their types in RowDescription).
    fn reg_columns_named(&mut self, plan: SelectPlan, columns: &[ColumnDesc]) -> SelectPlan {
        if !columns
            .iter()
            .any(|c| matches!(c.data_type, DataType::Reg(_)))
        {
            return plan;
        }
        let width = columns.len();
        let outputs = columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c.data_type {
                DataType::Reg(kind) => self.reg_out(Expr::Column(i), kind),
                _ => Expr::Column(i),
            })
            .collect();
        SelectPlan {
            source: Some(Source::Query {
                plan: Arc::new(Plan::Select(Box::new(plan))),
                offset: 0,
                width,
            }),
            ..SelectPlan::rows(
                Target::NoTable,
                ScanFragment {
                    output: FragmentOutput::Project(outputs),
                    ..identity_fragment(width)
                },
            )
        }
    }

    /// A reg* value as the name it identifies (text).
    fn reg_out(&mut self, x: Expr, kind: tessera_types::RegKind) -> Expr {
        let system = self.system();
        match x {
            Expr::Literal(Value::Int8(o)) => {
                Expr::Literal(Value::Text(system.reg_out(kind, o as u32)))
            }
            x => Expr::Catalog {
                func: CatalogFn::RegOut(kind),
                system,
                args: vec![x],
            },
        }
    }

    /// Text (a name, or digits) as a reg* oid.
    fn reg_in(&mut self, x: Expr, kind: tessera_types::RegKind) -> Result<Expr> {
        let system = self.system();
        Ok(match x {
            Expr::Literal(Value::Null) => x,
            Expr::Literal(Value::Text(s)) => {
                Expr::Literal(Value::Int8(system.reg_in(kind, &s)? as i64))
            }
            x => Expr::Catalog {
                func: CatalogFn::RegIn(kind),
                system,
                args: vec![x],
            },
        })
    }

    /// The binder with names resolving against `names` (the session's
    /// search_path) instead of `public` alone.
    pub fn with_names(mut self, names: Names) -> Binder<'a> {
        self.names = names;
        self
    }

    /// Orders inner joins by these statistics (see [`crate::stats`]).
    /// The session's prepared statements, for pg_prepared_statements (see
    /// [`crate::system::prepared_statement_rows`]).
    pub fn with_prepared(
        mut self,
        prepared: &'a std::collections::BTreeMap<String, crate::engine::PreparedStatement>,
    ) -> Binder<'a> {
        self.prepared = Some(prepared);
        self
    }

    pub fn with_stats(mut self, stats: Option<Arc<crate::stats::TableStats>>) -> Binder<'a> {
        self.stats = stats;
        self
    }

    /// The distinct values guessed for each column of the joined row: a
    /// table's rows for a column that is its primary key or a unique
    /// index by itself, else as ANALYZE found them (see
    /// [`crate::stats::TableColumns::distinct`]), else at most
    /// [`DEFAULT_DISTINCT`] (PostgreSQL's guess without statistics).
    fn distinct_values(&self, scope: &Scope) -> Vec<f64> {
        let mut out = Vec::new();
        for item in &scope.items {
            out.resize(item.offset, DEFAULT_DISTINCT);
            let table = match &item.input {
                Some(ItemInput::Table(t)) => t,
                _ => {
                    out.resize(item.offset + item.columns.len(), DEFAULT_DISTINCT);
                    continue;
                }
            };
            let rows = self.counted_rows(table);
            let analyzed = self.column_stats(table);
            for c in 0..item.columns.len() {
                let unique = table.primary_key == [c]
                    || self
                        .catalog
                        .indexes_of(table.id)
                        .any(|ix| ix.unique && ix.columns == [c]);
                let known = analyzed.as_ref().and_then(|a| a.distinct(c, rows));
                out.push(match known {
                    _ if unique => rows,
                    Some(distinct) => distinct,
                    None => rows.min(DEFAULT_DISTINCT),
                });
            }
        }
        out
    }

    /// `table`'s rows as the shards last counted them, or
    /// [`UNCOUNTED_ROWS`].
    fn counted_rows(&self, table: &TableDef) -> f64 {
        let counted = self.stats.as_ref().and_then(|s| s.rows(table.id));
        counted.map_or(UNCOUNTED_ROWS, |n| n as f64)
    }

    /// `table`'s column statistics, when ANALYZE has run.
    fn column_stats(&self, table: &TableDef) -> Option<Arc<crate::stats::TableColumns>> {
        self.stats.as_ref()?.columns(table.id)
    }

    /// Rows FROM item `i` is expected to give: its table's rows as last
    /// counted (1000 when unknown, or not a table; a grouped correlated
    /// aggregate's, its table's expected rows), times the fraction
    /// the conditions pushed down to it are expected to keep (from the
    /// table's column statistics, else PostgreSQL's guesses); a filter
    /// that fixes the whole primary key gives one row.
    fn estimate_rows(&self, scope: &Scope, i: usize, pushed: &[Expr]) -> f64 {
        let t = match &scope.items[i].input {
            Some(ItemInput::Table(t)) => t,
            other => {
                let rows = match other {
                    Some(ItemInput::Grouped(_, groups)) => *groups,
                    _ => UNCOUNTED_ROWS,
                };
                let kept = crate::stats::conjunction_selectivity(pushed, None, rows);
                return (rows * kept).max(1.0);
            }
        };
        let offset = scope.items[i].offset;
        let own: Vec<Expr> = pushed.iter().map(|c| c.rebased(offset)).collect();
        self.estimate_table_rows(t, own)
    }

    /// Rows of `table` expected to pass `conditions` (over its row); see
    /// [`Binder::estimate_rows`].
    fn estimate_table_rows(&self, table: &TableDef, conditions: Vec<Expr>) -> f64 {
        let counted = self.counted_rows(table);
        let analyzed = self.column_stats(table);
        let mut rows = counted
            * crate::stats::conjunction_selectivity(&conditions, analyzed.as_deref(), counted);
        let filter = Expr::all(conditions);
        if !table.has_row_id() && route(table, filter.as_ref()).1.is_some() {
            rows = rows.min(1.0);
        }
        rows.max(1.0)
    }

    fn qualified(&self, name: &ast::ObjectName) -> Result<QualifiedName> {
        crate::names::qualified_name(name_parts(name)?, &self.names.database)
    }

    /// The schema relation name `q` points into: the one it names (3F000
    /// when that does not exist), or the first on the search path with a
    /// relation so named (`None` when none has one).
    fn schema_of(&self, q: &QualifiedName) -> Result<Option<SchemaId>> {
        match &q.schema {
            Some(s) => crate::names::schema_named(self.catalog, s).map(Some),
            None => Ok(self.names.find(self.catalog, &q.name)),
        }
    }

    /// Like `schema_of`, for a relation a query reads or writes: a schema
    /// that does not exist means the relation does not (42P01, as
    /// PostgreSQL's FROM and INSERT say). Notes where a name without a
    /// schema was found, for a view's text.
    fn schema_of_relation(&mut self, name: &ast::ObjectName) -> Result<(QualifiedName, SchemaId)> {
        let q = self.qualified(name)?;
        let missing = |q: &QualifiedName| {
            Error::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{}\" does not exist", q.shown()),
            )
        };
        let schema = match self.schema_of(&q) {
            Ok(Some(s)) => s,
            Ok(None) => return Err(missing(&q)),
            Err(e) if e.code == sqlstate::INVALID_SCHEMA_NAME => return Err(missing(&q)),
            Err(e) => return Err(e),
        };
        self.note_unqualified(name, &q, schema);
        Ok((q, schema))
    }

    /// While a view's text is being qualified: notes that `name`, written
    /// without a schema, was found in `schema`.
    fn note_unqualified(&mut self, name: &ast::ObjectName, q: &QualifiedName, schema: SchemaId) {
        use sqlparser::ast::Spanned;
        if let (Some(notes), None) = (self.unqualified.as_mut(), &q.schema) {
            notes.push((name.span().start, schema));
        }
    }

    /// Where CREATE puts relation `q`: the schema it names, or the first
    /// of the search path that exists; never `pg_catalog` or
    /// `information_schema`.
    fn creation_schema(&self, q: &QualifiedName) -> Result<SchemaId> {
        let schema = match &q.schema {
            Some(s) => crate::names::schema_named(self.catalog, s)?,
            None => self.names.creation_schema(self.catalog)?,
        };
        match schema {
            PG_CATALOG => Err(Error::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied to create \"pg_catalog.{}\"", q.name),
            )
            .with_detail("System catalog modifications are currently disallowed.")),
            INFORMATION_SCHEMA => Err(Error::unsupported(
                "creating relations in schema information_schema",
            )),
            s => Ok(s),
        }
    }

    /// The relation (of any kind) DDL names: its schema, or 3F000 for a
    /// schema named that does not exist; `None` when no schema of the path
    /// has it.
    fn ddl_schema(&self, name: &ast::ObjectName) -> Result<(QualifiedName, Option<SchemaId>)> {
        let q = self.qualified(name)?;
        let schema = self.schema_of(&q)?;
        Ok((q, schema))
    }

    /// A table for ALTER, COMMENT, REFERENCES, OWNED BY: as `table`, but a
    /// schema that does not exist is 3F000.
    fn ddl_table(&mut self, name: &ast::ObjectName) -> Result<Arc<TableDef>> {
        let q = self.qualified(name)?;
        self.schema_of(&q)?;
        self.table(name)
    }

    /// The table a column reference's qualifier `parts` (`[schema,] table`
    /// or `database.schema.table`) names: its table part, once any schema
    /// named is checked to be the schema of that FROM item's table.
    fn column_qualifier(&self, parts: &[String], scope: &Scope) -> Result<String> {
        let q = crate::names::qualified_name(parts.to_vec(), &self.names.database)?;
        let Some(schema) = &q.schema else {
            return Ok(q.name);
        };
        let stored = scope
            .table
            .iter()
            .map(|t| (scope.qualifier.as_deref(), t))
            .chain(scope.items.iter().filter_map(|it| match &it.input {
                Some(ItemInput::Table(t)) => Some((Some(it.qualifier.as_str()), t)),
                _ => None,
            }));
        let wrong = stored
            .filter(|(qualifier, _)| *qualifier == Some(q.name.as_str()))
            .any(|(_, t)| t.name != q.name || self.catalog.schema_name(t.schema) != schema);
        if wrong || self.catalog.schema(schema).is_none() {
            return Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                format!("invalid reference to FROM-clause entry for table \"{}\"", q.name),
            )
            .with_hint(format!(
                "There is an entry for table \"{}\", but it cannot be referenced from this part of the query.",
                q.name
            )));
        }
        Ok(q.name)
    }

    /// The final parameter types: unresolved ones become `text`, as PostgreSQL does.
    fn finish_params(&self) -> Vec<DataType> {
        self.params
            .iter()
            .map(|p| p.unwrap_or(DataType::Text))
            .collect()
    }

    /// The table a query reads or writes.
    fn table(&mut self, name: &ast::ObjectName) -> Result<Arc<TableDef>> {
        let factor = table_factor_named(name);
        match self.system_relation_of(&factor) {
            Some(n) if n.is_information_schema() => {
                return Err(Error::new(
                    sqlstate::WRONG_OBJECT_TYPE,
                    format!("\"{}\" is not a table", n.name),
                ))
            }
            Some(n) => {
                return Err(Error::new(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied for table {}", n.name),
                ))
            }
            None => {}
        }
        let (q, schema) = self.schema_of_relation(name)?;
        let n = &q.name;
        match self.catalog.table(schema, n) {
            Some(t) => {
                self.referenced.push(t.id);
                Ok(t.clone())
            }
            None if self.catalog.view(schema, n).is_some() => Err(Error::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!("\"{n}\" is a view, not a table"),
            )
            .with_hint("Views can be read; writing through them is not supported.")),
            None => Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{}\" does not exist", q.shown()),
            )),
        }
    }

    /// The sequence a FROM item names, if it names one.
    fn sequence_of(
        &mut self,
        relation: &ast::TableFactor,
    ) -> Option<Arc<tessera_types::SequenceDef>> {
        self.relation_of(relation, |c, s, n| c.sequence(s, n), |d| d.schema)
    }

    /// The view a FROM item names (a WITH query of the name hides it).
    fn view_of(&mut self, relation: &ast::TableFactor) -> Option<Arc<tessera_types::ViewDef>> {
        self.relation_of(relation, |c, s, n| c.view(s, n), |d| d.schema)
    }

    /// The relation of one kind (`find` looks it up in a schema) that a
    /// FROM item names, noting where a name without a schema was found.
    fn relation_of<T>(
        &mut self,
        relation: &ast::TableFactor,
        find: impl for<'c> Fn(&'c Catalog, SchemaId, &str) -> Option<&'c Arc<T>>,
        schema_of: impl Fn(&T) -> SchemaId,
    ) -> Option<Arc<T>> {
        let name = self.relation_name(relation)?;
        let (q, schema) = self.ddl_schema(name).ok()?;
        let found = find(self.catalog, schema?, &q.name).cloned();
        if let Some(def) = &found {
            self.note_unqualified(name, &q, schema_of(def));
        }
        found
    }

    /// A view's query, bound afresh from its text: it sees neither the
    /// reading query's WITH queries nor its outer rows.
    fn bind_view(
        &mut self,
        view: &tessera_types::ViewDef,
    ) -> Result<(SelectPlan, Vec<ColumnDesc>)> {
        let parsed = crate::parser::parse(&view.query)?;
        let Some(ast::Statement::Query(q)) = parsed.into_iter().next().map(|p| p.statement) else {
            return Err(Error::internal(format!(
                "the text of view \"{}\" is not a query",
                view.name
            )));
        };
        // A view depends on the views it reads, not on what they read.
        let referenced = std::mem::take(&mut self.referenced);
        let ctes = std::mem::take(&mut self.ctes);
        let outer = std::mem::take(&mut self.outer);
        let windows = self.windows.take();
        let named = std::mem::take(&mut self.named_windows);
        let in_window = std::mem::replace(&mut self.in_window, false);
        // Its relation names carry their schemas (those of views made
        // before schemas existed do not, and meant public's).
        let public = Names::new("public", &self.names.user, &self.names.database);
        let names = std::mem::replace(&mut self.names, public);
        let unqualified = self.unqualified.take();
        let bound = self.bind_query(&q);
        self.names = names;
        self.unqualified = unqualified;
        self.ctes = ctes;
        self.outer = outer;
        self.windows = windows;
        self.named_windows = named;
        self.in_window = in_window;
        self.referenced = referenced;
        self.referenced.push(view.id);
        let (plan, mut descs) = bound?;
        for (d, (n, _)) in descs.iter_mut().zip(&view.columns) {
            d.name = n.clone();
        }
        Ok((plan, descs))
    }

    fn bind_create_view(
        &mut self,
        name: &ast::ObjectName,
        columns: &[ast::ViewColumnDef],
        query: &ast::Query,
        or_replace: bool,
    ) -> Result<Plan> {
        let q = self.qualified(name)?;
        let schema = self.creation_schema(&q)?;
        let name = q.name;
        self.stars = Some(Vec::new());
        let bound = self.bind_query(query);
        let stars = self.stars.take().unwrap_or_default();
        let (_, descs) = bound?;
        if !self.params.is_empty() {
            return Err(Error::new(
                sqlstate::UNDEFINED_PARAMETER,
                "there is no parameter $1",
            ));
        }
        if columns.len() > descs.len() {
            return Err(Error::syntax(
                "CREATE VIEW specifies more column names than columns",
            ));
        }
        // As PostgreSQL: a `*` in the view's select list means the columns
        // there are now, not the ones a table gains later.
        let at = match &*query.body {
            ast::SetExpr::Select(select) => &**select as *const ast::Select as usize,
            _ => 0,
        };
        let mut query = query.clone();
        if let ast::SetExpr::Select(select) = &mut *query.body {
            if let Some((_, items)) = stars.iter().find(|(p, _)| *p == at) {
                select.projection = items
                    .iter()
                    .map(|(expr, n)| ast::SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: ast::Ident::with_quote('"', n.clone()),
                    })
                    .collect();
            }
        }
        let query = &query;
        let names: Vec<String> = columns.iter().map(|c| ident_name(&c.name)).collect();
        let out = stored_columns(&descs, &names)?;
        let mut depends_on = std::mem::take(&mut self.referenced);
        depends_on.sort_unstable();
        depends_on.dedup();
        Ok(Plan::CreateView {
            view: tessera_types::ViewDef {
                id: 0,
                name,
                schema,
                columns: out,
                query: self.qualify_relations(&query.to_string())?,
                depends_on,
            },
            or_replace,
        })
    }

    /// A view's query text with each relation name written without a
    /// schema given the schema the search path finds it in now, so that
    /// the view goes on reading what it read when it was made whatever
    /// the reader's search_path (PostgreSQL keeps the relations' ids).
    /// The text is bound again, noting where such names start.
    fn qualify_relations(&self, text: &str) -> Result<String> {
        let query = crate::parser::parse_query(text)?;
        let mut binder =
            Binder::new(self.catalog, &[], self.time.clone()).with_names(self.names.clone());
        binder.unqualified = Some(Vec::new());
        binder.bind_query(&query)?;
        let mut notes = binder.unqualified.take().unwrap_or_default();
        notes.sort_by_key(|(at, _)| (at.line, at.column));
        notes.dedup_by_key(|(at, _)| (at.line, at.column));
        // Line and column (in characters, from 1) to byte offsets.
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut out = text.to_string();
        for (at, schema) in notes.iter().rev() {
            let offset = usize::try_from(at.line)
                .ok()
                .and_then(|l| starts.get(l.checked_sub(1)?))
                .and_then(|start| {
                    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
                    text[*start..]
                        .char_indices()
                        .nth(column)
                        .map(|(i, _)| start + i)
                });
            let Some(offset) = offset else {
                return Err(Error::internal("a relation name outside the view's text"));
            };
            let prefix = format!(
                "{}.",
                crate::names::quote_ident(self.catalog.schema_name(*schema))
            );
            out.insert_str(offset, &prefix);
        }
        Ok(out)
    }

    /// A role named by CREATE SCHEMA … AUTHORIZATION: roles are not kept
    /// yet, so the session's user is the one that exists.
    fn role(&self, role: &ast::Ident) -> Result<String> {
        let name = ident_name(role);
        let user = &self.names.user;
        let is_user = name == *user
            || (role.quote_style.is_none()
                && matches!(
                    name.as_str(),
                    "current_user" | "session_user" | "current_role"
                ));
        if is_user {
            Ok(user.clone())
        } else if self.catalog.role(&name).is_some() {
            Ok(name)
        } else {
            Err(Error::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("role \"{name}\" does not exist"),
            ))
        }
    }

    /// A schema name a statement creates or renames to: `pg_` is reserved.
    fn new_schema_name(name: &ast::ObjectName) -> Result<String> {
        let [ast::ObjectNamePart::Identifier(i)] = name.0.as_slice() else {
            return Err(Error::syntax(format!("syntax error at or near \"{name}\"")));
        };
        let name = ident_name(i);
        if name.starts_with("pg_") {
            return Err(Error::new(
                sqlstate::RESERVED_NAME,
                format!("unacceptable schema name \"{name}\""),
            )
            .with_detail("The prefix \"pg_\" is reserved for system schemas."));
        }
        Ok(name)
    }

    fn bind_create_schema(&self, name: &ast::SchemaName, if_not_exists: bool) -> Result<Plan> {
        let (name, owner) = match name {
            ast::SchemaName::Simple(n) => (Self::new_schema_name(n)?, self.names.user.clone()),
            ast::SchemaName::NamedAuthorization(n, role) => {
                let owner = self.role(role)?;
                (Self::new_schema_name(n)?, owner)
            }
            ast::SchemaName::UnnamedAuthorization(role) => {
                let owner = self.role(role)?;
                let n = ast::ObjectName(vec![ast::ObjectNamePart::Identifier(
                    ast::Ident::with_quote('"', owner.clone()),
                )]);
                (Self::new_schema_name(&n)?, owner)
            }
        };
        Ok(Plan::CreateSchema {
            schema: tessera_types::SchemaDef { id: 0, name, owner },
            if_not_exists,
        })
    }

    fn bind_drop_schemas(
        &self,
        names: &[ast::ObjectName],
        if_exists: bool,
        cascade: bool,
    ) -> Result<Plan> {
        let mut found = Vec::new();
        let mut notices = Vec::new();
        for name in names {
            let [ast::ObjectNamePart::Identifier(i)] = name.0.as_slice() else {
                return Err(Error::syntax(format!("syntax error at or near \"{name}\"")));
            };
            let n = ident_name(i);
            match crate::names::schema_named(self.catalog, &n) {
                Ok(_) => found.push(n),
                Err(_) if if_exists => notices.push(crate::engine::Notice::new(
                    sqlstate::SUCCESSFUL_COMPLETION,
                    format!("schema \"{n}\" does not exist, skipping"),
                )),
                Err(e) => return Err(e),
            }
        }
        Ok(Plan::DropSchemas {
            names: found,
            cascade,
            notices,
            path: self.names.schemas(self.catalog),
        })
    }

    fn bind_alter_schema(&self, alter: &ast::AlterSchema) -> Result<Plan> {
        if let [ast::AlterSchemaOperation::OwnerTo { owner }] = alter.operations.as_slice() {
            let [ast::ObjectNamePart::Identifier(i)] = alter.name.0.as_slice() else {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{}\"",
                    alter.name
                )));
            };
            let name = ident_name(i);
            crate::names::schema_named(self.catalog, &name)?;
            let ast::Owner::Ident(role) = owner else {
                return Err(Error::unsupported(format!("OWNER TO {owner}")));
            };
            return self.owner_unchanged(role, "ALTER SCHEMA", &name);
        }
        let [ast::AlterSchemaOperation::Rename { name: to }] = alter.operations.as_slice() else {
            return Err(Error::unsupported(format!("{alter}")));
        };
        let [ast::ObjectNamePart::Identifier(i)] = alter.name.0.as_slice() else {
            return Err(Error::syntax(format!(
                "syntax error at or near \"{}\"",
                alter.name
            )));
        };
        let schema = crate::names::schema_named(self.catalog, &ident_name(i))?;
        let name = Self::new_schema_name(to)?;
        if matches!(schema, PG_CATALOG | INFORMATION_SCHEMA) {
            return Err(Error::unsupported(format!(
                "renaming schema {}",
                self.catalog.schema_name(schema)
            )));
        }
        Ok(Plan::RenameSchema { schema, name })
    }

    pub fn bind(mut self, parsed: &Parsed, sql: &str) -> Result<Statement> {
        use ast::Statement as S;
        if let S::Explain {
            analyze,
            statement,
            format,
            options,
            ..
        } = &parsed.statement
        {
            let mut analyze = *analyze;
            for o in options.iter().flatten() {
                let name = ident_name(&o.name).to_ascii_lowercase();
                let on = match &o.arg {
                    None => true,
                    Some(a) => !matches!(
                        a.to_string().to_ascii_lowercase().as_str(),
                        "false" | "off" | "0"
                    ),
                };
                match name.as_str() {
                    "analyze" => analyze = on,
                    "verbose" | "costs" | "timing" | "summary" | "buffers" | "settings" | "wal" => {
                    }
                    "format"
                        if o.arg
                            .as_ref()
                            .is_some_and(|a| a.to_string().eq_ignore_ascii_case("text")) => {}
                    _ => return Err(Error::unsupported(format!("the EXPLAIN option {o}"))),
                }
            }
            if format.is_some() {
                return Err(Error::unsupported("EXPLAIN formats other than text"));
            }
            let inner = Parsed {
                statement: (**statement).clone(),
                ..parsed.clone()
            };
            let bound = self.bind(&inner, sql)?;
            if analyze && !matches!(*bound.plan, Plan::Select(_)) {
                return Err(Error::unsupported(
                    "EXPLAIN ANALYZE of statements other than SELECT",
                ));
            }
            return Ok(Statement {
                plan: Arc::new(Plan::Explain {
                    plan: bound.plan,
                    init: bound.init,
                    analyze,
                }),
                init: vec![],
                columns: vec![ColumnDesc {
                    name: "QUERY PLAN".into(),
                    data_type: DataType::Text,
                    table_oid: 0,
                    column_id: 0,
                }],
                returns_rows: true,
                uses_sequences: bound.uses_sequences && analyze,
                uses_settings: bound.uses_settings && analyze,
                advisory_waits: bound.advisory_waits && analyze,
                sleeps: bound.sleeps && analyze,
                reads_cursors: bound.reads_cursors && analyze,
                ..bound
            });
        }
        if let S::Prepare {
            name,
            data_types,
            statement,
        } = &parsed.statement
        {
            return self.bind_prepare(parsed, sql, ident_name(name), data_types, statement);
        }
        let mut copy = None;
        if let Some(crate::cursor::CursorCommand::Fetch {
            name,
            direction,
            move_only,
        }) = &parsed.cursor
        {
            // The columns are the cursor's, which the session knows.
            let plan = Plan::FetchCursor {
                name: name.clone(),
                direction: *direction,
                move_only: *move_only,
            };
            let version = self.catalog.version;
            return Ok(Statement {
                param_types: self.finish_params(),
                returns_rows: !move_only,
                ..Statement::new(sql, plan, parsed, version, &self.names.setting)
            });
        }
        let (plan, columns, returns_rows) = match &parsed.statement {
            S::Query(q) if parsed.cursor.is_some() => {
                let Some(crate::cursor::CursorCommand::Declare { name, options }) = &parsed.cursor
                else {
                    return Err(Error::internal("a cursor command that is not DECLARE"));
                };
                let (plan, columns) = self.bind_query(q)?;
                let plan = self.reg_columns_named(plan, &columns);
                let scrolls = crate::cursor::plan_scrolls(&plan);
                (
                    Plan::DeclareCursor {
                        name: name.clone(),
                        options: *options,
                        query: Arc::new(Plan::Select(Box::new(plan))),
                        columns,
                        scrolls,
                    },
                    vec![],
                    false,
                )
            }
            S::Query(q) => match (&q.with, &*q.body) {
                // WITH … INSERT/UPDATE/DELETE.
                (
                    Some(with),
                    ast::SetExpr::Insert(dml)
                    | ast::SetExpr::Update(dml)
                    | ast::SetExpr::Delete(dml),
                ) => {
                    let before = self.ctes.len();
                    let bound = self.bind_with(with, true).and_then(|_| self.bind_dml(dml));
                    self.ctes.truncate(before);
                    let bound = bound?;
                    self.check_modified_unread()?;
                    bound
                }
                (Some(with), _) => {
                    let before = self.ctes.len();
                    let bound = self
                        .bind_with(with, true)
                        .and_then(|_| self.bind_query_body(q));
                    self.ctes.truncate(before);
                    let (plan, columns) = bound?;
                    self.check_modified_unread()?;
                    let plan = self.reg_columns_named(plan, &columns);
                    (Plan::Select(Box::new(plan)), columns, true)
                }
                (None, _) => {
                    let (plan, columns) = self.bind_query(q)?;
                    let plan = self.reg_columns_named(plan, &columns);
                    (Plan::Select(Box::new(plan)), columns, true)
                }
            },
            S::Insert(_) | S::Update { .. } | S::Delete(_) => self.bind_dml(&parsed.statement)?,
            S::Truncate {
                table_names,
                partitions: None,
                identity,
                cascade,
                ..
            } => {
                let mut deletes = Vec::new();
                let mut tables = Vec::new();
                for target in table_names {
                    let table = self.ddl_table(&target.name)?;
                    if !tables.iter().any(|t: &Arc<TableDef>| t.id == table.id) {
                        tables.push(table);
                    }
                }
                let mut notices = Vec::new();
                if matches!(cascade, Some(ast::CascadeOption::Cascade)) {
                    // Every table referencing one truncated, transitively.
                    let mut i = 0;
                    while i < tables.len() {
                        for (child, _) in self.catalog.referencing(tables[i].id) {
                            if !tables.iter().any(|t| t.id == child.id) {
                                notices.push(crate::engine::Notice::new(
                                    sqlstate::SUCCESSFUL_COMPLETION,
                                    format!("truncate cascades to table \"{}\"", child.name),
                                ));
                                tables.push(child);
                            }
                        }
                        i += 1;
                    }
                }
                let named: Vec<tessera_types::TableId> = tables.iter().map(|t| t.id).collect();
                for table in &tables {
                    if let Some((child, _)) = self
                        .catalog
                        .referencing(table.id)
                        .into_iter()
                        .find(|(c, _)| !named.contains(&c.id))
                    {
                        return Err(Error::new(
                            sqlstate::FEATURE_NOT_SUPPORTED,
                            "cannot truncate a table referenced in a foreign key constraint",
                        )
                        .with_detail(format!(
                            "Table \"{}\" references \"{}\".",
                            child.name, table.name
                        ))
                        .with_hint(format!(
                            "Truncate table \"{}\" at the same time, or use TRUNCATE ... CASCADE.",
                            child.name
                        )));
                    }
                }
                for table in tables {
                    deletes.push(Arc::new(Plan::Delete(DeletePlan {
                        returning: vec![],
                        joined: None,
                        table,
                        target: Target::AllShards,
                        primary_key: None,
                        index: None,
                        filter: None,
                    })));
                }
                let restart = match identity {
                    Some(ast::TruncateIdentityOption::Restart) => self
                        .catalog
                        .sequences()
                        .filter(|s| s.owned_by.is_some_and(|(t, _)| named.contains(&t)))
                        .cloned()
                        .collect(),
                    _ => vec![],
                };
                (
                    Plan::Truncate {
                        deletes,
                        restart,
                        notices,
                    },
                    vec![],
                    false,
                )
            }
            S::CreateTable(ct) => (self.bind_create_table(ct, parsed)?, vec![], false),
            S::Comment {
                object_type,
                object_name,
                comment,
                if_exists: false,
            } => (
                self.bind_comment(*object_type, object_name, comment.clone())?,
                vec![],
                false,
            ),
            S::Drop {
                object_type:
                    kind @ (ast::ObjectType::Table
                    | ast::ObjectType::Index
                    | ast::ObjectType::Sequence
                    | ast::ObjectType::View),
                if_exists,
                names,
                cascade,
                ..
            } => {
                let if_exists = *if_exists;
                let mut refs = Vec::new();
                let mut notices = Vec::new();
                for name in names {
                    let q = self.qualified(name)?;
                    match self.schema_of(&q) {
                        Ok(schema) => refs.push(crate::shard::RelationRef {
                            schema,
                            name: q.name,
                        }),
                        Err(e) if if_exists && e.code == sqlstate::INVALID_SCHEMA_NAME => notices
                            .push(crate::engine::Notice::new(
                                sqlstate::SUCCESSFUL_COMPLETION,
                                format!("{}, skipping", e.message),
                            )),
                        Err(e) => return Err(e),
                    }
                }
                let kind = match kind {
                    ast::ObjectType::Table => Relation::Table,
                    ast::ObjectType::Index => Relation::Index,
                    ast::ObjectType::View => Relation::View,
                    _ => Relation::Sequence,
                };
                let plan = Plan::Drop {
                    kind,
                    names: refs,
                    if_exists,
                    cascade: *cascade,
                    notices,
                    path: self.names.schemas(self.catalog),
                };
                (plan, vec![], false)
            }
            S::CreateType {
                name,
                representation,
            } => (self.bind_create_type(name, representation)?, vec![], false),
            S::AlterType(alter) => (self.bind_alter_type(alter)?, vec![], false),
            S::CreateDomain(_) => match &parsed.domain {
                Some(command) => (self.bind_domain_command(command)?, vec![], false),
                None => return Err(Error::internal("CREATE DOMAIN not read by the parser")),
            },
            S::DropDomain(d) => (
                self.bind_drop_domain(
                    &d.name,
                    d.if_exists,
                    matches!(d.drop_behavior, Some(ast::DropBehavior::Cascade)),
                )?,
                vec![],
                false,
            ),
            S::Drop {
                object_type: ast::ObjectType::Type,
                if_exists,
                names,
                cascade,
                ..
            } => (
                self.bind_drop_types(names, *if_exists, *cascade)?,
                vec![],
                false,
            ),
            S::Drop {
                object_type: ast::ObjectType::Role | ast::ObjectType::User,
                if_exists,
                names,
                ..
            } => (self.bind_drop_roles(names, *if_exists)?, vec![], false),
            S::CreateRole {
                names,
                if_not_exists,
                login,
                inherit,
                bypassrls,
                password,
                superuser,
                create_db,
                create_role,
                replication,
                connection_limit,
                valid_until,
                in_role,
                in_group,
                role,
                user,
                admin,
                authorization_owner: None,
            } => {
                let unsupported = if *inherit == Some(false) {
                    Some("NOINHERIT")
                } else if *bypassrls == Some(true) {
                    Some("BYPASSRLS")
                } else if *replication == Some(true) {
                    Some("REPLICATION")
                } else if connection_limit.is_some() {
                    Some("CONNECTION LIMIT")
                } else if !in_role.is_empty() || !in_group.is_empty() {
                    Some("IN ROLE")
                } else if !role.is_empty() || !user.is_empty() {
                    Some("ROLE")
                } else if !admin.is_empty() {
                    Some("ADMIN")
                } else {
                    None
                };
                let options = roles::CreateRoleOptions {
                    login: *login,
                    password: password.as_ref(),
                    superuser: *superuser,
                    create_db: *create_db,
                    create_role: *create_role,
                    valid_until: valid_until.as_ref(),
                    unsupported,
                };
                let plan =
                    self.bind_create_role(names, *if_not_exists, options, parsed.create_user)?;
                (plan, vec![], false)
            }
            S::AlterRole { name, operation } => {
                (self.bind_alter_role(name, operation)?, vec![], false)
            }
            S::Drop {
                object_type: ast::ObjectType::Schema,
                if_exists,
                names,
                cascade,
                ..
            } => (
                self.bind_drop_schemas(names, *if_exists, *cascade)?,
                vec![],
                false,
            ),
            S::CreateSchema {
                schema_name,
                if_not_exists,
                with: None,
                options: None,
                default_collate_spec: None,
                clone: None,
            } => (
                self.bind_create_schema(schema_name, *if_not_exists)?,
                vec![],
                false,
            ),
            S::AlterSchema(alter) => (self.bind_alter_schema(alter)?, vec![], false),
            S::CreateIndex(ci) => (self.bind_create_index(ci)?, vec![], false),
            S::CreateView {
                or_alter: false,
                or_replace,
                materialized: false,
                name,
                columns,
                query,
                options: ast::CreateTableOptions::None,
                if_not_exists: false,
                temporary: false,
                to: None,
                ..
            } => (
                self.bind_create_view(name, columns, query, *or_replace)?,
                vec![],
                false,
            ),
            S::CreateView {
                materialized: true, ..
            } => return Err(Error::unsupported("materialized views")),
            S::CreateSequence {
                name,
                data_type,
                sequence_options,
                owned_by,
                ..
            } if parsed.alter_sequence.is_some() => (
                self.bind_alter_sequence(
                    parsed.alter_sequence.as_ref().expect("checked above"),
                    name,
                    data_type.as_ref(),
                    sequence_options,
                    owned_by.as_ref(),
                )?,
                vec![],
                false,
            ),
            S::CreateSequence {
                temporary: false,
                if_not_exists,
                name,
                data_type,
                sequence_options,
                owned_by,
            } => (
                self.bind_create_sequence(
                    *if_not_exists,
                    name,
                    data_type.as_ref(),
                    sequence_options,
                    owned_by.as_ref(),
                )?,
                vec![],
                false,
            ),
            S::Vacuum(_) if parsed.maintenance.as_ref().is_some_and(|m| m.checkpoint) => {
                // PostgreSQL 15: superusers (and pg_checkpoint, which
                // Tessera does not have).
                let superuser = self
                    .catalog
                    .role(&self.names.user)
                    .is_some_and(|r| r.superuser);
                if !superuser {
                    return Err(Error::new(
                        sqlstate::INSUFFICIENT_PRIVILEGE,
                        "must be superuser or have privileges of pg_checkpoint to do CHECKPOINT",
                    ));
                }
                (Plan::Checkpoint, vec![], false)
            }
            S::UnlockTables if parsed.owner_to.is_some() => {
                let change = parsed.owner_to.as_ref().expect("checked above");
                (self.bind_type_owner(change)?, vec![], false)
            }
            S::LockTables { .. } if parsed.lock.is_some() => {
                let lock = parsed.lock.as_ref().expect("checked above");
                if lock.mode != "ACCESS SHARE" {
                    return Err(
                        Error::unsupported(format!("LOCK TABLE IN {} MODE", lock.mode))
                            .with_hint("Tessera takes only ACCESS SHARE, which pg_dump uses."),
                    );
                }
                for name in &lock.tables {
                    self.table(name)?;
                }
                (Plan::LockShared, vec![], false)
            }
            S::Vacuum(v) => {
                let (vacuum, analyze, tables) = match &parsed.maintenance {
                    Some(m) => (m.vacuum, m.analyze, m.tables.clone()),
                    None => (true, false, v.table_name.iter().cloned().collect()),
                };
                for name in &tables {
                    self.table(name)?;
                }
                let plan = if vacuum {
                    Plan::Vacuum { analyze }
                } else {
                    Plan::Analyze
                };
                (plan, vec![], false)
            }
            S::AlterIndex {
                name,
                operation: ast::AlterIndexOperation::RenameIndex { index_name },
            } => (self.bind_rename_index(name, index_name)?, vec![], false),
            S::AlterTable {
                name,
                operations,
                if_exists,
                ..
            } if matches!(
                operations.as_slice(),
                [ast::AlterTableOperation::OwnerTo { .. }]
            ) =>
            {
                let [ast::AlterTableOperation::OwnerTo { new_owner }] = operations.as_slice()
                else {
                    unreachable!("matched above");
                };
                (
                    self.bind_owner_to(name, new_owner, *if_exists)?,
                    vec![],
                    false,
                )
            }
            S::AlterTable {
                name,
                operations,
                if_exists,
                ..
            } => {
                let plan = match self.ddl_table(name) {
                    Err(e) if *if_exists && e.code == sqlstate::UNDEFINED_TABLE => Plan::Skipped {
                        tag: "ALTER TABLE".into(),
                        notice: Some(format!("{}, skipping", e.message)),
                    },
                    _ => self.bind_alter_table(name, operations)?,
                };
                (plan, vec![], false)
            }
            S::Set(ast::Set::SetTimeZone { local, value }) => {
                let value = time_zone_value(value)?;
                (
                    Plan::Set {
                        name: "timezone".into(),
                        value,
                        local: *local,
                        reset: false,
                    },
                    vec![],
                    false,
                )
            }
            S::Set(ast::Set::SingleAssignment { variable, .. })
                if parsed.reset && variable.to_string().eq_ignore_ascii_case("all") =>
            {
                (Plan::Discard(Discard::ResetAll), vec![], false)
            }
            S::Discard {
                object_type: ast::DiscardObject::ALL,
            } => (Plan::Discard(Discard::All), vec![], false),
            S::Close {
                cursor: ast::CloseCursor::All,
            } => (Plan::Discard(Discard::CloseAll), vec![], false),
            S::Close {
                cursor: ast::CloseCursor::Specific { name },
            } => (
                Plan::CloseCursor {
                    name: ident_name(name),
                },
                vec![],
                false,
            ),
            S::Deallocate { name, .. } => {
                // An unquoted ALL means every statement; "ALL" names one.
                let name = match name.quote_style {
                    None if name.value.eq_ignore_ascii_case("all") => None,
                    _ => Some(ident_name(name)),
                };
                (Plan::Deallocate { name }, vec![], false)
            }
            S::LISTEN { channel } => {
                let plan = Plan::Listen {
                    channel: ident_name(channel),
                    listen: true,
                };
                (plan, vec![], false)
            }
            S::UNLISTEN { channel } => {
                let channel = match channel.value.as_str() {
                    "*" if channel.quote_style.is_none() => "*".to_string(),
                    _ => ident_name(channel),
                };
                let plan = Plan::Listen {
                    channel,
                    listen: false,
                };
                (plan, vec![], false)
            }
            S::NOTIFY { channel, payload } => {
                let plan = Plan::Notify {
                    channel: ident_name(channel),
                    payload: payload.clone().unwrap_or_default(),
                };
                (plan, vec![], false)
            }
            S::Set(ast::Set::SingleAssignment {
                variable,
                values,
                scope,
                ..
            }) if variable.to_string().eq_ignore_ascii_case("search_path") => {
                let local = matches!(scope, Some(ast::ContextModifier::Local));
                (search_path_set(values, local, parsed.reset)?, vec![], false)
            }
            S::Set(ast::Set::SingleAssignment {
                variable,
                values,
                scope,
                ..
            }) => {
                let local = matches!(scope, Some(ast::ContextModifier::Local));
                let name = variable.to_string().to_lowercase();
                let value = values
                    .iter()
                    .map(|v| match v {
                        ast::Expr::Value(v) => match &v.value {
                            ast::Value::SingleQuotedString(s) => s.clone(),
                            other => other.to_string(),
                        },
                        ast::Expr::Identifier(i) => i.value.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let value = if value.eq_ignore_ascii_case("default") {
                    None
                } else {
                    Some(value)
                };
                let reset = parsed.reset;
                (
                    Plan::Set {
                        name,
                        value,
                        local,
                        reset,
                    },
                    vec![],
                    false,
                )
            }
            S::ShowVariable { variable } => {
                let words: Vec<String> = variable.iter().map(|i| i.value.clone()).collect();
                // Several words name TRANSACTION ISOLATION LEVEL, TIME
                // ZONE, SESSION AUTHORIZATION; others are `class.name`.
                let spaced = words.join(" ");
                // Each phrase shows the setting it names.
                let phrase = [
                    ("transaction isolation level", "transaction_isolation"),
                    ("time zone", "timezone"),
                    ("session authorization", "session_authorization"),
                ]
                .iter()
                .find(|(p, _)| p.eq_ignore_ascii_case(&spaced));
                let name = match phrase {
                    Some((_, setting)) => setting.to_string(),
                    None if words.len() > 1 => words.join("."),
                    None => spaced,
                };
                if name.eq_ignore_ascii_case("all") {
                    let columns = ["name", "setting", "description"]
                        .into_iter()
                        .map(|n| ColumnDesc {
                            name: n.into(),
                            data_type: DataType::Text,
                            table_oid: 0,
                            column_id: 0,
                        })
                        .collect();
                    (Plan::ShowAll, columns, true)
                } else {
                    let col = ColumnDesc {
                        name: name.to_lowercase(),
                        data_type: DataType::Text,
                        table_oid: 0,
                        column_id: 0,
                    };
                    (Plan::Show { name }, vec![col], true)
                }
            }
            S::StartTransaction { modes, .. } => {
                let (isolation, read_only) = transaction_modes(modes)?;
                (
                    Plan::Begin {
                        isolation,
                        read_only,
                    },
                    vec![],
                    false,
                )
            }
            S::Commit { chain: false, .. } => (Plan::Commit, vec![], false),
            S::Rollback {
                chain: false,
                savepoint: None,
            } => (Plan::Rollback, vec![], false),
            S::Set(ast::Set::SetTransaction {
                modes,
                snapshot: None,
                session: false,
            }) => {
                let (isolation, read_only) = transaction_modes(modes)?;
                (
                    Plan::SetTransaction {
                        isolation,
                        read_only,
                    },
                    vec![],
                    false,
                )
            }
            S::Set(ast::Set::SetTransaction {
                modes,
                snapshot: None,
                session: true,
            }) => {
                let (isolation, read_only) = transaction_modes(modes)?;
                (
                    Plan::SetSessionCharacteristics {
                        isolation,
                        read_only,
                    },
                    vec![],
                    false,
                )
            }
            S::Savepoint { name } => (
                Plan::Savepoint {
                    name: ident_name(name),
                },
                vec![],
                false,
            ),
            S::ReleaseSavepoint { name } => (
                Plan::ReleaseSavepoint {
                    name: ident_name(name),
                },
                vec![],
                false,
            ),
            S::Rollback {
                chain: false,
                savepoint: Some(name),
            } => (
                Plan::RollbackToSavepoint {
                    name: ident_name(name),
                },
                vec![],
                false,
            ),
            S::Commit { .. } | S::Rollback { .. } => return Err(Error::unsupported("AND CHAIN")),
            S::Copy {
                source, to, target, ..
            } => {
                let options = parsed.copy.as_deref().unwrap_or(&[]);
                let (plan, columns, spec) = self.bind_copy(source, *to, target, options)?;
                copy = Some(Arc::new(spec));
                (plan, columns, false)
            }
            other => {
                let text = other.to_string();
                let words: Vec<&str> = text.split_whitespace().take(2).collect();
                return Err(Error::unsupported(words.join(" ")));
            }
        };
        // A table's defaults and checks and a view's query are kept, not
        // evaluated, when made: their constants fail where they are used
        // (`DEFAULT 1/0` at INSERT), as in PostgreSQL.
        let constant_error = match plan {
            Plan::CreateTable { .. } | Plan::CreateView { .. } => None,
            _ => self.fold_errors.first().cloned(),
        };
        Ok(Statement {
            sql: sql.to_string(),
            plan: Arc::new(plan),
            init: std::mem::take(&mut self.init),
            param_types: self.finish_params(),
            columns,
            returns_rows,
            catalog_version: self.catalog.version,
            search_path: self.names.setting.clone(),
            deferred: false,
            parsed: Arc::new(parsed.clone()),
            uses_sequences: self.uses_sequences,
            uses_settings: self.uses_settings,
            advisory_waits: self.advisory_waits,
            sleeps: self.sleeps,
            reads_prepared: self.reads_prepared,
            reads_cursors: self.reads_cursors,
            reads_system: self.reads_system,
            constant_error,
            copy,
        })
    }

    /// `PREPARE name [(types)] AS statement`: the statement is bound now
    /// with the given parameter types (the rest inferred, as for Parse).
    fn bind_prepare(
        self,
        parsed: &Parsed,
        sql: &str,
        name: String,
        data_types: &[ast::DataType],
        statement: &ast::Statement,
    ) -> Result<Statement> {
        let preparable = matches!(
            statement,
            ast::Statement::Query(_)
                | ast::Statement::Insert(_)
                | ast::Statement::Update { .. }
                | ast::Statement::Delete(_)
        );
        if !preparable {
            let text = statement.to_string();
            let word = text.split_whitespace().next().unwrap_or_default();
            return Err(Error::syntax(format!("syntax error at or near \"{word}\"")));
        }
        let types = data_types
            .iter()
            .map(|t| self.resolve_type(t).map(Some))
            .collect::<Result<Vec<_>>>()?;
        let mut inner = Binder::new(self.catalog, &types, self.time.clone());
        inner.names = self.names.clone();
        inner.stats = self.stats.clone();
        inner.prepared = self.prepared;
        let inner_parsed = Parsed {
            statement: statement.clone(),
            ..parsed.clone()
        };
        let bound = inner.bind(&inner_parsed, sql)?;
        Ok(Statement {
            sql: sql.to_string(),
            plan: Arc::new(Plan::Prepare {
                name,
                statement: StatementRef(Arc::new(bound.clone())),
            }),
            init: vec![],
            param_types: vec![],
            columns: vec![],
            returns_rows: false,
            parsed: Arc::new(parsed.clone()),
            uses_sequences: false,
            uses_settings: false,
            advisory_waits: false,
            sleeps: false,
            copy: None,
            // Raised by EXECUTE, which runs `bound`.
            constant_error: None,
            ..bound
        })
    }

    /// `EXECUTE name [(args)]` of `prepared`, the session's statement of
    /// that name: each argument is bound and coerced to its parameter's
    /// type as an assignment is (42804 where it cannot be).
    pub fn bind_execute(
        mut self,
        parsed: &Parsed,
        sql: &str,
        name: String,
        args: &[ast::Expr],
        prepared: Arc<Statement>,
    ) -> Result<Statement> {
        let expected = prepared.param_types.len();
        if args.len() != expected {
            return Err(Error::syntax(format!(
                "wrong number of parameters for prepared statement \"{name}\""
            ))
            .with_detail(format!(
                "Expected {expected} parameters but got {}.",
                args.len()
            )));
        }
        let scope = Scope::default();
        let mut bound = Vec::with_capacity(args.len());
        for (i, (arg, &to)) in args.iter().zip(&prepared.param_types).enumerate() {
            let (e, from) = self.bind_expr_hint(
                arg,
                &scope,
                &mut Ctx::Row {
                    clause: "EXECUTE parameter",
                },
                Some(to),
            )?;
            if !to.assignable_from(from) {
                return Err(Error::datatype_mismatch(format!(
                    "parameter ${} of type {} cannot be coerced to the expected type {}",
                    i + 1,
                    from.base_name(),
                    to.base_name()
                ))
                .with_hint("You will need to rewrite or cast the expression."));
            }
            let column = ColumnDef::new(format!("${}", i + 1), to, false);
            bound.push(self.assign(e, from, &column)?);
        }
        Ok(Statement {
            sql: sql.to_string(),
            plan: Arc::new(Plan::Execute {
                name,
                args: bound,
                statement: StatementRef(prepared.clone()),
            }),
            init: std::mem::take(&mut self.init),
            param_types: self.finish_params(),
            columns: prepared.columns.clone(),
            returns_rows: prepared.returns_rows,
            catalog_version: self.catalog.version,
            search_path: self.names.setting.clone(),
            parsed: Arc::new(parsed.clone()),
            deferred: false,
            uses_sequences: prepared.uses_sequences || self.uses_sequences,
            uses_settings: prepared.uses_settings || self.uses_settings,
            advisory_waits: prepared.advisory_waits || self.advisory_waits,
            sleeps: prepared.sleeps || self.sleeps,
            reads_prepared: self.reads_prepared,
            reads_cursors: prepared.reads_cursors || self.reads_cursors,
            reads_system: prepared.reads_system || self.reads_system,
            // Its arguments, evaluated each time it runs, raise their own.
            constant_error: None,
            copy: None,
        })
    }

    /// COPY … TO STDOUT is the query whose rows it sends (`COPY t (cols)`
    /// reads `SELECT cols FROM t`); COPY … FROM STDIN is an INSERT whose
    /// rows are expressions over each input row, as INSERT … SELECT's are
    /// over each row of its query (see [`Plan::CopyFrom`]). The result
    /// columns of either are the data's columns.
    fn bind_copy(
        &mut self,
        source: &ast::CopySource,
        to: bool,
        target: &ast::CopyTarget,
        options: &[crate::copy::CopyOption],
    ) -> Result<(Plan, Vec<ColumnDesc>, crate::copy::CopySpec)> {
        use crate::copy::{CopyDirection, CopySpec};
        if !matches!(target, ast::CopyTarget::Stdin | ast::CopyTarget::Stdout) {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "COPY to or from a file is not supported",
            )
            .with_hint(
                "COPY to or from a file or program runs on the server and needs a superuser in PostgreSQL; use COPY … FROM STDIN / TO STDOUT, or psql's \\copy.",
            ));
        }
        let described = |columns: &[ColumnDesc]| -> Vec<(String, DataType)> {
            columns
                .iter()
                .map(|c| (c.name.clone(), c.data_type))
                .collect()
        };
        let (table_name, column_names) = match source {
            ast::CopySource::Query(q) => {
                let (plan, columns) = self.bind_query(q)?;
                let plan = self.reg_columns_named(plan, &columns);
                let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
                let spec = CopySpec::new(
                    CopyDirection::To,
                    options,
                    String::new(),
                    &names,
                    described(&columns),
                )?;
                return Ok((Plan::Select(Box::new(plan)), columns, spec));
            }
            ast::CopySource::Table {
                table_name,
                columns,
            } => (table_name, columns),
        };
        if to {
            if let Some(view) = self.view_of(&table_factor_named(table_name)) {
                return Err(Error::new(
                    sqlstate::WRONG_OBJECT_TYPE,
                    format!("cannot copy from view \"{}\"", view.name),
                )
                .with_hint("Try the COPY (SELECT ...) TO variant."));
            }
        } else {
            self.refuse_information_schema_write(table_name, "copy to")?;
        }
        let table = self.table(table_name)?;
        let table_columns: Vec<String> = table
            .visible_columns()
            .map(|(_, c)| c.name.clone())
            .collect();
        let positions: Vec<usize> = if column_names.is_empty() {
            table.visible_columns().map(|(i, _)| i).collect()
        } else {
            let names = column_names.iter().map(|c| Ok(ident_name(c)));
            distinct_columns(&table, names, |n| {
                format!("column \"{n}\" specified more than once")
            })?
        };
        if to {
            let list: Vec<String> = positions
                .iter()
                .map(|&p| ast::Ident::with_quote('"', table.columns[p].name.clone()).to_string())
                .collect();
            let sql = format!("SELECT {} FROM {table_name}", list.join(", "));
            let parsed = crate::parser::parse(&sql)?;
            let Some(ast::Statement::Query(q)) = parsed.first().map(|p| &p.statement) else {
                return Err(Error::internal("COPY TO's query did not parse as a query"));
            };
            let (plan, columns) = self.bind_query(q)?;
            let plan = self.reg_columns_named(plan, &columns);
            let spec = CopySpec::new(
                CopyDirection::To,
                options,
                table.name.clone(),
                &table_columns,
                described(&columns),
            )?;
            return Ok((Plan::Select(Box::new(plan)), columns, spec));
        }
        let mut row: Vec<Expr> = self.column_defaults(&table)?;
        let mut columns = Vec::with_capacity(positions.len());
        for (i, &pos) in positions.iter().enumerate() {
            let column = &table.columns[pos];
            generated_always(column, false)?;
            row[pos] = match column.data_type {
                // The reader has no catalog: an enum's label arrives as
                // text and is read here.
                DataType::Enum(oid) => self.enum_in(Expr::Column(i), DataType::Text, oid)?,
                DataType::Array(Elem::Enum(oid)) => {
                    self.enum_array_in(Expr::Column(i), DataType::Text, oid)?
                }
                t => self.assign(Expr::Column(i), t, column)?,
            };
            columns.push(ColumnDesc {
                name: column.name.clone(),
                data_type: column.data_type,
                table_oid: 0,
                column_id: 0,
            });
        }
        let checks = self.table_checks(&table)?;
        let spec = CopySpec::new(
            CopyDirection::From,
            options,
            table.name.clone(),
            &table_columns,
            described(&columns),
        )?;
        let insert = InsertPlan {
            table,
            rows: vec![row],
            select: None,
            returning: vec![],
            on_conflict: None,
            arbiters: Default::default(),
            checks,
        };
        Ok((
            Plan::CopyFrom {
                insert: Arc::new(Plan::Insert(insert)),
            },
            columns,
            spec,
        ))
    }

    // ---- expressions -------------------------------------------------

    fn param(&mut self, index: usize, hint: Option<DataType>) -> (Expr, DataType) {
        if self.params.len() <= index {
            self.params.resize(index + 1, None);
        }
        if self.params[index].is_none() {
            if let Some(h) = hint.filter(|h| *h != DataType::Unknown) {
                self.params[index] = Some(h.unconstrained());
            }
        }
        match self.params[index] {
            // Its value arrives as the label's text (the wire layer has no
            // catalog): read against the type's labels where it is used.
            Some(t @ DataType::Enum(oid)) => (
                Expr::Catalog {
                    func: CatalogFn::EnumIn(oid),
                    system: self.system(),
                    args: vec![Expr::Param(index)],
                },
                t,
            ),
            Some(t @ DataType::Array(Elem::Enum(oid))) => (
                Expr::Catalog {
                    func: CatalogFn::EnumArrayIn(oid),
                    system: self.system(),
                    args: vec![Expr::Param(index)],
                },
                t,
            ),
            t => (Expr::Param(index), t.unwrap_or(DataType::Unknown)),
        }
    }

    /// Converts `e` of type `from` to `to`: folds casts of literals (so bad
    /// constants fail at once with their input error), types open
    /// parameters, wraps the rest in an implicit cast.
    fn coerce(&mut self, e: Expr, from: DataType, to: DataType) -> Result<Expr> {
        if let DataType::Enum(oid) = to {
            return self.enum_in(e, from, oid);
        }
        if let DataType::Array(Elem::Enum(oid)) = to {
            return self.enum_array_in(e, from, oid);
        }
        if let Expr::Param(i) = e {
            if from == DataType::Unknown {
                self.param(i, Some(to));
                return Ok(Expr::Param(i));
            }
        }
        if !needs_cast(from, to) {
            return Ok(e);
        }
        if let Expr::Literal(v) = e {
            return Ok(Expr::Literal(v.cast_with(to, true, &self.time)?));
        }
        Ok(Expr::Cast {
            expr: Box::new(e),
            to,
            explicit: false,
        })
    }

    fn bind_expr(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        self.bind_expr_hint(e, scope, ctx, None)
    }

    fn bind_expr_hint(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        ctx: &mut Ctx,
        hint: Option<DataType>,
    ) -> Result<(Expr, DataType)> {
        use ast::Expr as E;
        if let Ctx::Grouped { keys, .. } = ctx {
            let text = e.to_string();
            if let Some(i) = keys.iter().position(|(k, _)| *k == text) {
                return Ok((Expr::Column(i), keys[i].1));
            }
        }
        if let Some(fields) = row::row_constructor(e) {
            return self.bind_row_value(&fields, scope, ctx);
        }
        match e {
            E::Identifier(i) => match self
                .bind_column(None, &ident_name(i), scope, ctx)
                .map_err(|e| located_at(e, i))
            {
                // CURRENT_SCHEMA is also a function written without parentheses.
                Err(e)
                    if is_not_found(&e)
                        && i.quote_style.is_none()
                        && i.value.eq_ignore_ascii_case("current_schema") =>
                {
                    Ok(self.current_schema())
                }
                // So is CURRENT_ROLE, which sqlparser reads as a name.
                Err(e)
                    if is_not_found(&e)
                        && i.quote_style.is_none()
                        && i.value.eq_ignore_ascii_case("current_role") =>
                {
                    Ok((
                        Expr::Literal(Value::Text(self.names.user.clone())),
                        DataType::Text,
                    ))
                }
                bound => bound,
            },
            E::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, c] => self
                    .bind_column(Some(&ident_name(q)), &ident_name(c), scope, ctx)
                    .map_err(|e| located_at(e, q)),
                [db, _, _, _] if ident_name(db) != self.names.database => Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    format!("cross-database references are not implemented: {e}"),
                )),
                [qualifier @ .., c] if parts.len() <= 4 => {
                    let parts: Vec<String> = qualifier.iter().map(ident_name).collect();
                    let q = self.column_qualifier(&parts, scope)?;
                    self.bind_column(Some(&q), &ident_name(c), scope, ctx)
                }
                _ => Err(Error::syntax(format!(
                    "improper qualified name (too many dotted names): {e}"
                ))),
            },
            E::Value(v) => self.bind_literal(&v.value, hint),
            E::Nested(inner) => self.bind_expr_hint(inner, scope, ctx, hint),
            E::SimilarTo {
                negated,
                expr,
                pattern,
                escape_char,
            } => {
                let escape = escape_char.as_ref().map(|v| ast::Expr::value(v.clone()));
                let mut operands = vec![&**expr, &**pattern];
                operands.extend(escape.as_ref());
                let f = crate::pattern::PatternFn::Similar { negated: *negated };
                self.bind_pattern_operands(f, "~", &operands, scope, ctx)
            }
            E::Ceil { expr, field } | E::Floor { expr, field } => {
                let (f, name) = match e {
                    E::Ceil { .. } => (crate::math::MathFn::Ceil, "ceil"),
                    _ => (crate::math::MathFn::Floor, "floor"),
                };
                match field {
                    ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime) => {
                        self.bind_math_call(f, name, &[&**expr], scope, ctx)
                    }
                    ast::CeilFloorKind::Scale(scale) => {
                        let (_, t) = self.bind_expr(expr, scope, ctx)?;
                        let (_, st) = self.bind_literal(scale, None)?;
                        Err(no_such_call(name, &[t, st]))
                    }
                    ast::CeilFloorKind::DateTimeField(_) => {
                        Err(Error::syntax(format!("syntax error at or near \"{e}\"")))
                    }
                }
            }
            E::UnaryOp {
                op: op @ (ast::UnaryOperator::PGSquareRoot | ast::UnaryOperator::PGCubeRoot),
                expr,
            } => {
                let f = if *op == ast::UnaryOperator::PGSquareRoot {
                    crate::math::MathFn::Sqrt
                } else {
                    crate::math::MathFn::Cbrt
                };
                self.bind_math_call(f, &op.to_string(), &[&**expr], scope, ctx)
            }
            E::UnaryOp { op, expr } => {
                let (x, t) = self.bind_expr_hint(expr, scope, ctx, hint)?;
                match op {
                    ast::UnaryOperator::Not => {
                        let x = self.expect_bool(x, t, "NOT")?;
                        Ok((Expr::Not(Box::new(x)), DataType::Bool))
                    }
                    ast::UnaryOperator::Minus => {
                        if let Expr::Literal(v) = &x {
                            if let Some(folded) = negate_literal(v) {
                                // -2147483648 is an integer, though 2147483648 is not.
                                let t = match (&folded, t) {
                                    (Value::Int4(_), DataType::Int8) => DataType::Int4,
                                    (Value::Int8(_), DataType::Numeric(_)) => DataType::Int8,
                                    _ => t,
                                };
                                return Ok((Expr::Literal(folded), t));
                            }
                        }
                        let t = if t == DataType::Unknown {
                            DataType::Numeric(None)
                        } else {
                            t
                        };
                        if !t.is_numeric_family() && !matches!(t, DataType::Interval(_)) {
                            return Err(operator_missing("-", None, t));
                        }
                        Ok((Expr::Neg(Box::new(x)), t.unconstrained()))
                    }
                    ast::UnaryOperator::Plus => Ok((x, t)),
                    ast::UnaryOperator::PGBitwiseNot => {
                        self.bit_operator(crate::math::MathFn::BitNot, "~", vec![(x, t)])
                    }
                    other => Err(Error::unsupported(format!("the operator {other}"))),
                }
            }
            E::BinaryOp { left, op, right } => self.bind_binary(left, op, right, scope, ctx),
            E::IsDistinctFrom(left, right) | E::IsNotDistinctFrom(left, right)
                if row::row_constructor(left).is_some()
                    || row::row_constructor(right).is_some() =>
            {
                let negated = matches!(e, E::IsNotDistinctFrom(..));
                let bound = self.bind_row_distinct(left, right, negated, scope, ctx)?;
                bound.ok_or_else(|| Error::internal("a row IS DISTINCT FROM without a row"))
            }
            E::IsDistinctFrom(left, right) | E::IsNotDistinctFrom(left, right) => {
                // The parser reads `a IS DISTINCT FROM b AND c` as `a IS
                // DISTINCT FROM (b AND c)`; PostgreSQL's IS binds tighter.
                if let E::BinaryOp {
                    left: b,
                    op: op @ (ast::BinaryOperator::And | ast::BinaryOperator::Or),
                    right: c,
                } = &**right
                {
                    let inner = match e {
                        E::IsDistinctFrom(..) => E::IsDistinctFrom(left.clone(), b.clone()),
                        _ => E::IsNotDistinctFrom(left.clone(), b.clone()),
                    };
                    let rotated = E::BinaryOp {
                        left: Box::new(inner),
                        op: op.clone(),
                        right: c.clone(),
                    };
                    return self.bind_expr(&rotated, scope, ctx);
                }
                // `<>` with NULL as a value: CASE WHEN l IS NULL THEN r IS
                // NOT NULL WHEN r IS NULL THEN true ELSE l <> r END (the
                // operands typed and coerced as `<>` types them).
                let (cmp, _) =
                    self.bind_binary(left, &ast::BinaryOperator::NotEq, right, scope, ctx)?;
                let (l, r) = match &cmp {
                    Expr::Binary {
                        op: crate::expr::BinaryOp::NotEq,
                        left: l,
                        right: r,
                    } => ((**l).clone(), (**r).clone()),
                    // Two constants, compared already: only their NULLs
                    // are wanted (binding a constant again changes nothing).
                    Expr::Literal(_) => (
                        self.bind_expr(left, scope, ctx)?.0,
                        self.bind_expr(right, scope, ctx)?.0,
                    ),
                    _ => return Err(Error::unsupported(format!("the expression {e}"))),
                };
                let (l, r) = (&l, &r);
                let is_null = |x: &Expr, negated: bool| Expr::IsNull {
                    expr: Box::new(x.clone()),
                    negated,
                };
                let distinct = Expr::Case {
                    operand: None,
                    whens: vec![
                        (is_null(l, false), is_null(r, true)),
                        (is_null(r, false), Expr::Literal(Value::Bool(true))),
                    ],
                    otherwise: Some(Box::new(cmp.clone())),
                };
                let bound = match e {
                    E::IsDistinctFrom(..) => distinct,
                    _ => Expr::Not(Box::new(distinct)),
                };
                Ok((bound, DataType::Bool))
            }
            E::IsNull(x) | E::IsNotNull(x) if row::row_constructor(x).is_some() => {
                let fields = row::row_constructor(x).unwrap_or_default();
                self.bind_row_is_null(&fields, matches!(e, E::IsNotNull(_)), scope, ctx)
            }
            E::IsNull(x) | E::IsNotNull(x) => {
                let (x, t) = self.bind_expr(x, scope, ctx)?;
                // A record is NULL when each field is (NOT NULL when none is).
                if let DataType::Record(_) = t {
                    let f = crate::row::RowFn::IsNull {
                        negated: matches!(e, E::IsNotNull(_)),
                    };
                    return Ok((
                        Expr::Call {
                            func: Function::Row(f),
                            args: vec![x],
                        },
                        DataType::Bool,
                    ));
                }
                Ok((
                    Expr::IsNull {
                        expr: Box::new(x),
                        negated: matches!(e, E::IsNotNull(_)),
                    },
                    DataType::Bool,
                ))
            }
            E::IsTrue(x) | E::IsNotTrue(x) | E::IsFalse(x) | E::IsNotFalse(x) => {
                let (inner, t) = self.bind_expr(x, scope, ctx)?;
                let inner = self.expect_bool(inner, t, "IS TRUE")?;
                let value = matches!(e, E::IsTrue(_) | E::IsNotTrue(_));
                let negated = matches!(e, E::IsNotTrue(_) | E::IsNotFalse(_));
                Ok((
                    Expr::IsBool {
                        expr: Box::new(inner),
                        value,
                        negated,
                    },
                    DataType::Bool,
                ))
            }
            E::InList {
                expr,
                list,
                negated,
            } if row::row_constructor(expr).is_some()
                || list.iter().any(|i| row::row_constructor(i).is_some()) =>
            {
                self.bind_row_in_list(expr, list, *negated, scope, ctx)
            }
            E::InList {
                expr,
                list,
                negated,
            } => {
                let (x, mut t) = self.bind_expr(expr, scope, ctx)?;
                let mut items = Vec::new();
                for item in list {
                    let (i, it) = self.bind_expr_hint(item, scope, ctx, Some(t))?;
                    t = DataType::common_type(t, it)
                        .ok_or_else(|| operator_missing("=", Some(t), it))?;
                    items.push((i, it));
                }
                let x = self.coerce(x, t, t)?;
                let list = items
                    .into_iter()
                    .map(|(i, it)| self.coerce(i, it, t))
                    .collect::<Result<_>>()?;
                Ok((
                    Expr::InList {
                        expr: Box::new(x),
                        list,
                        negated: *negated,
                    },
                    DataType::Bool,
                ))
            }
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let lo = ast::Expr::BinaryOp {
                    left: expr.clone(),
                    op: ast::BinaryOperator::GtEq,
                    right: low.clone(),
                };
                let hi = ast::Expr::BinaryOp {
                    left: expr.clone(),
                    op: ast::BinaryOperator::LtEq,
                    right: high.clone(),
                };
                let both = ast::Expr::BinaryOp {
                    left: Box::new(lo),
                    op: ast::BinaryOperator::And,
                    right: Box::new(hi),
                };
                let (b, t) = self.bind_expr(&both, scope, ctx)?;
                Ok((if *negated { Expr::Not(Box::new(b)) } else { b }, t))
            }
            E::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any,
            }
            | E::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any,
            } => {
                if *any {
                    // x [NOT] [I]LIKE ANY (array of patterns).
                    if escape_char.is_some() {
                        return Err(Error::unsupported("LIKE ANY … ESCAPE"));
                    }
                    let text_array = DataType::Array(tessera_types::array::Elem::Text);
                    let x = self.bind_expr_hint(expr, scope, ctx, Some(DataType::Text))?;
                    let a = self.bind_expr_hint(pattern, scope, ctx, Some(text_array))?;
                    let f = ArrayFn::LikeAny {
                        case_insensitive: matches!(e, E::ILike { .. }),
                        negated: *negated,
                    };
                    let name = if matches!(e, E::ILike { .. }) {
                        "~~*"
                    } else {
                        "~~"
                    };
                    return self.array_call(f, name, vec![x, a]);
                }
                let (x, xt) = self.bind_expr_hint(expr, scope, ctx, Some(DataType::Text))?;
                let (p, pt) = self.bind_expr_hint(pattern, scope, ctx, Some(DataType::Text))?;
                if !xt.is_string() || !pt.is_string() {
                    return Err(operator_missing("~~", Some(xt), pt));
                }
                // `ESCAPE e`: the pattern through like_escape(pattern, e).
                let (p, pt) = match escape_char {
                    None => (p, pt),
                    Some(escape) => {
                        let escape = match escape {
                            ast::Value::SingleQuotedString(s) => s.clone(),
                            other => {
                                return Err(Error::unsupported(format!("LIKE … ESCAPE {other}")))
                            }
                        };
                        let p = self.coerce(p, pt, DataType::Text)?;
                        let call = Expr::Call {
                            func: Function::Text(crate::text::TextFn::LikeEscape),
                            args: vec![p, Expr::Literal(Value::Text(escape))],
                        };
                        (call, DataType::Text)
                    }
                };
                // char(n) matches with its blanks (PostgreSQL's bpcharlike).
                let x = if matches!(xt, DataType::Char(_)) {
                    x
                } else {
                    self.coerce(x, xt, DataType::Text)?
                };
                let p = self.coerce(p, pt, DataType::Text)?;
                Ok((
                    Expr::Like {
                        expr: Box::new(x),
                        pattern: Box::new(p),
                        negated: *negated,
                        case_insensitive: matches!(e, E::ILike { .. }),
                    },
                    DataType::Bool,
                ))
            }
            E::Array(a) => self.bind_array_constructor(&a.elem, scope, ctx, None),
            E::CompoundFieldAccess { root, access_chain } => {
                self.bind_subscripts(root, access_chain, scope, ctx)
            }
            E::Cast {
                expr,
                data_type: dt,
                kind,
                format: None,
            } => {
                if !matches!(kind, ast::CastKind::Cast | ast::CastKind::DoubleColon) {
                    return Err(Error::unsupported(format!("{kind:?}")));
                }
                if let Some(def) = self.domain_of(dt)? {
                    return self.bind_domain_cast(e, expr, &def, scope, ctx, hint);
                }
                let to = self.resolve_type(dt)?;
                // `$1::regclass` (SQLAlchemy's CAST(%(p)s AS REGCLASS)): the
                // client sends a name, text looked up when the statement runs.
                let hint = match to {
                    DataType::Reg(_) => DataType::Text,
                    to => to,
                };
                let (x, from) = match &**expr {
                    // ARRAY[…]::t[]: the elements take t (and [] may be empty).
                    E::Array(a) => self.bind_array_constructor(&a.elem, scope, ctx, Some(to))?,
                    _ => self.bind_expr_hint(expr, scope, ctx, Some(hint))?,
                };
                if let Expr::Param(i) = x {
                    if from == DataType::Unknown {
                        self.param(i, Some(to));
                    }
                }
                if let DataType::Enum(oid) = to {
                    return Ok((self.enum_in(x, from, oid)?, to));
                }
                if let DataType::Array(Elem::Enum(oid)) = to {
                    return Ok((self.enum_array_in(x, from, oid)?, to));
                }
                if from != DataType::Unknown && !castable(from, to) {
                    return Err(Error::new(
                        sqlstate::CANNOT_COERCE,
                        format!(
                            "cannot cast type {} to {}",
                            self.type_name(from),
                            self.type_name(to)
                        ),
                    ));
                }
                // The values of these types are those of others (arrays,
                // text), whose casts would give the wrong text or number.
                let special = match from {
                    _ if from.vector_array().is_some() && to.is_string() => {
                        Some(crate::text::TextFn::VectorOut)
                    }
                    DataType::InternalChar if to == DataType::Int4 => {
                        Some(crate::text::TextFn::CharCode)
                    }
                    _ => None,
                };
                if let Some(f) = special {
                    let call = Expr::Call {
                        func: Function::Text(f),
                        args: vec![x],
                    };
                    return Ok((
                        Expr::Cast {
                            expr: Box::new(call),
                            to,
                            explicit: true,
                        },
                        to,
                    ));
                }
                if let DataType::Reg(kind) = to {
                    if from.is_string() {
                        return Ok((self.reg_in(x, kind)?, to));
                    }
                }
                if let (DataType::Reg(kind), true) = (from, to.is_string()) {
                    let name = self.reg_out(x, kind);
                    return Ok((
                        Expr::Cast {
                            expr: Box::new(name),
                            to,
                            explicit: true,
                        },
                        to,
                    ));
                }
                if let Expr::Literal(v) = &x {
                    let v = v.clone().cast_with(to, true, &self.time);
                    // A quoted literal is read as the type now (PostgreSQL
                    // reads it as it parses); a typed constant's cast is
                    // folded, its error deferred, as the planner's is.
                    if from == DataType::Unknown {
                        return Ok((Expr::Literal(v?), to));
                    }
                    let cast = Expr::Cast {
                        expr: Box::new(x),
                        to,
                        explicit: true,
                    };
                    return Ok((self.folded(v, cast), to));
                }
                Ok((
                    Expr::Cast {
                        expr: Box::new(x),
                        to,
                        explicit: true,
                    },
                    to,
                ))
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.bind_case(
                operand.as_deref(),
                conditions,
                else_result.as_deref(),
                scope,
                ctx,
            ),
            E::Function(f) => self.bind_function(f, scope, ctx),
            E::Collate { expr, collation } => {
                // Text compares bytewise, which is what "C" (and so the
                // default collation, here) means.
                let parts = name_parts(collation)?;
                let name = match parts.as_slice() {
                    [schema, n] if schema == "pg_catalog" => n,
                    [n] => n,
                    _ => return Err(Error::unsupported(format!("the collation {collation}"))),
                };
                if !matches!(name.as_str(), "default" | "C" | "POSIX" | "ucs_basic") {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("collation \"{name}\" for encoding \"UTF8\" does not exist"),
                    ));
                }
                let (x, t) = self.bind_expr_hint(expr, scope, ctx, hint)?;
                if !t.is_string() {
                    return Err(Error::new(
                        sqlstate::DATATYPE_MISMATCH,
                        format!("collations are not supported by type {t}"),
                    ));
                }
                Ok((x, t))
            }
            E::TypedString(ast::TypedString {
                data_type: dt,
                value,
                ..
            }) => {
                // PostgreSQL's grammar has `type 'text'` for plain type
                // names only: `int[] '{1}'` is a syntax error there.
                if matches!(dt, ast::DataType::Array(_)) {
                    return Err(Error::syntax(format!(
                        "syntax error at or near \"{}\"",
                        value.value
                    )));
                }
                let to = data_type(dt)?;
                let text = match &value.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                Ok((Expr::Literal(Value::parse_with(to, &text, &self.time)?), to))
            }
            E::Interval(interval) => self.bind_interval_literal(interval, scope, ctx),
            E::Extract { field, expr, .. } => {
                let unit = Expr::Literal(Value::Text(extract_unit(field)));
                let (x, t) = self.bind_expr(expr, scope, ctx)?;
                self.bind_date_part(Function::Extract, unit, x, t)
            }
            E::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                let (x, t) = self.bind_expr(timestamp, scope, ctx)?;
                let (z, zt) = self.bind_expr_hint(time_zone, scope, ctx, Some(DataType::Text))?;
                self.bind_at_time_zone(x, t, z, zt)
            }
            E::Subquery(q) => {
                let (query, args, descs) = self.bind_subquery(q, scope, ctx)?;
                if descs.len() != 1 {
                    return Err(Error::syntax("subquery must return only one column"));
                }
                let sub = Subquery {
                    kind: SubqueryKind::Scalar,
                    query,
                    args,
                };
                Ok((Expr::Subquery(Box::new(sub)), descs[0].data_type))
            }
            E::Exists { subquery, negated } => {
                let (query, args, _) = self.bind_subquery(subquery, scope, ctx)?;
                let e = Expr::Subquery(Box::new(Subquery {
                    kind: SubqueryKind::Exists,
                    query,
                    args,
                }));
                let e = if *negated { Expr::Not(Box::new(e)) } else { e };
                Ok((e, DataType::Bool))
            }
            E::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let (e, t) = match row::row_constructor(expr) {
                    Some(fields) => self.bind_row_quantified(
                        &fields,
                        BinaryOp::Eq,
                        false,
                        subquery,
                        scope,
                        ctx,
                    )?,
                    None => {
                        self.bind_quantified(expr, BinaryOp::Eq, false, subquery, scope, ctx)?
                    }
                };
                Ok((if *negated { Expr::Not(Box::new(e)) } else { e }, t))
            }
            E::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | E::AllOp {
                left,
                compare_op,
                right,
            } => {
                let all = matches!(e, E::AllOp { .. });
                let op = match compare_op {
                    ast::BinaryOperator::Eq => BinaryOp::Eq,
                    ast::BinaryOperator::NotEq => BinaryOp::NotEq,
                    ast::BinaryOperator::Lt => BinaryOp::Lt,
                    ast::BinaryOperator::LtEq => BinaryOp::LtEq,
                    ast::BinaryOperator::Gt => BinaryOp::Gt,
                    ast::BinaryOperator::GtEq => BinaryOp::GtEq,
                    other => return Err(Error::unsupported(format!("{other} ANY/ALL"))),
                };
                match (&**right, row::row_constructor(left)) {
                    (E::Subquery(q), Some(fields)) => {
                        self.bind_row_quantified(&fields, op, all, q, scope, ctx)
                    }
                    (E::Subquery(q), None) => self.bind_quantified(left, op, all, q, scope, ctx),
                    (array, _) => self.bind_any_array(left, op, all, array, scope, ctx),
                }
            }
            ast::Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let one = ast::Expr::value(ast::Value::Number("1".into(), false));
                let mut args = vec![(**expr).clone()];
                args.push(substring_from.as_deref().cloned().unwrap_or(one));
                args.extend(substring_for.as_deref().cloned());
                self.bind_text_call(crate::text::TextFn::Substr, "substring", &args, scope, ctx)
            }
            ast::Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                // overlay(s placing r from n [for m]) is, as PostgreSQL
                // defines it, substring(s, 1, n - 1) || r ||
                // substring(s, n + m), m the length of r by default.
                let sql = match overlay_for {
                    Some(count) => format!(
                        "substring(({expr}), 1, ({overlay_from}) - 1) || ({overlay_what}) || substring(({expr}), ({overlay_from}) + ({count}))"
                    ),
                    None => format!(
                        "substring(({expr}), 1, ({overlay_from}) - 1) || ({overlay_what}) || substring(({expr}), ({overlay_from}) + length({overlay_what}))"
                    ),
                };
                let rewritten = crate::parser::parse_expr(&sql)?;
                self.bind_expr(&rewritten, scope, ctx)
            }
            ast::Expr::Position { expr, r#in } => {
                let args = [(**r#in).clone(), (**expr).clone()];
                self.bind_text_call(crate::text::TextFn::Strpos, "position", &args, scope, ctx)
            }
            ast::Expr::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                let f = match trim_where {
                    Some(ast::TrimWhereField::Leading) => crate::text::TextFn::Ltrim,
                    Some(ast::TrimWhereField::Trailing) => crate::text::TextFn::Rtrim,
                    _ => crate::text::TextFn::Btrim,
                };
                let mut args = vec![(**expr).clone()];
                args.extend(trim_what.as_deref().cloned());
                args.extend(trim_characters.iter().flatten().cloned());
                self.bind_text_call(f, "trim", &args, scope, ctx)
            }
            other => Err(Error::unsupported(format!("the expression {other}"))),
        }
    }

    fn bind_column(
        &mut self,
        q: Option<&str>,
        name: &str,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let (e, t) = match scope.resolve_expr(q, name) {
            Ok(found) => found,
            Err(e) if is_not_found(&e) && !self.outer.is_empty() => {
                return self.outer_column(q, name, e)
            }
            Err(e) => return Err(e),
        };
        if let Ctx::Grouped {
            key_exprs, keys, ..
        } = ctx
        {
            if let Some(i) = key_exprs.iter().position(|k| *k == e) {
                return Ok((Expr::Column(i), keys[i].1));
            }
            let table = match &e {
                Expr::Column(i) if !scope.items.is_empty() => {
                    scope.item_at(*i).map(|it| it.qualifier.clone())
                }
                _ => scope.qualifier.clone(),
            }
            .unwrap_or_default();
            return Err(Error::new(
                sqlstate::GROUPING_ERROR,
                format!("column \"{table}.{name}\" must appear in the GROUP BY clause or be used in an aggregate function"),
            ));
        }
        Ok((e, t.unconstrained()))
    }

    /// A column no FROM item of the query being bound has: one of an
    /// enclosing query's (innermost first), read as an argument of the
    /// subquery; `not_here` when none has it either.
    fn outer_column(
        &mut self,
        q: Option<&str>,
        name: &str,
        not_here: Error,
    ) -> Result<(Expr, DataType)> {
        let mut found = None;
        for level in self.outer.iter().rev() {
            match level.scope.resolve_expr(q, name) {
                Ok((_, t)) => {
                    found = Some(t);
                    break;
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let (Some(t), Some(level)) = (found, self.outer.last_mut()) else {
            return Err(not_here);
        };
        let key = (q.map(str::to_string), name.to_string());
        let n = match level.refs.iter().position(|r| *r == key) {
            Some(n) => n,
            None => {
                level.refs.push(key);
                level.refs.len() - 1
            }
        };
        Ok((Expr::Outer(n), t.unconstrained()))
    }

    /// Binds a subquery inside an expression over `scope`: its plan, and
    /// its arguments (the outer columns it reads) bound in `scope` and
    /// `ctx`. An uncorrelated one becomes an init plan.
    fn bind_subquery(
        &mut self,
        q: &ast::Query,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(SubqueryRows, Vec<Expr>, Vec<ColumnDesc>)> {
        let (plan, descs, args) = self.bind_inside(q, scope, ctx)?;
        let query = if args.is_empty() {
            self.init.push(InitPlan {
                plan: Arc::new(Plan::Select(Box::new(plan))),
                place: None,
                dropped: false,
            });
            SubqueryRows::Init(self.init.len() - 1)
        } else {
            SubqueryRows::PerRow(Arc::new(plan))
        };
        Ok((query, args, descs))
    }

    /// Binds `q` with `scope` as its enclosing row: its plan, columns and
    /// arguments (the enclosing columns it reads, bound in `scope` and
    /// `ctx`; `Expr::Outer(n)` inside reads argument `n`).
    fn bind_inside(
        &mut self,
        q: &ast::Query,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(SelectPlan, Vec<ColumnDesc>, Vec<Expr>)> {
        self.outer.push(OuterLevel {
            scope: scope.names(),
            refs: Vec::new(),
        });
        let bound = self.bind_query(q);
        let level = self.outer.pop();
        let (plan, descs) = bound?;
        let args = self.outer_args(level.map(|l| l.refs).unwrap_or_default(), scope, ctx)?;
        Ok((plan, descs, args))
    }

    /// The columns an inner query read from `scope` (by name), bound there:
    /// the values its `Expr::Outer(n)` stand for.
    fn outer_args(
        &mut self,
        refs: Vec<(Option<String>, String)>,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Vec<Expr>> {
        let mut args = Vec::with_capacity(refs.len());
        for (q, name) in refs {
            let reference = match q {
                Some(q) => ast::Expr::CompoundIdentifier(vec![quoted(&q), quoted(&name)]),
                None => ast::Expr::Identifier(quoted(&name)),
            };
            args.push(self.bind_expr(&reference, scope, ctx)?.0);
        }
        Ok(args)
    }

    /// `left op ANY|ALL (q)`; IN is `= ANY`.
    #[allow(clippy::too_many_arguments)]
    fn bind_quantified(
        &mut self,
        left: &ast::Expr,
        op: BinaryOp,
        all: bool,
        q: &ast::Query,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let (l, lt) = self.bind_expr(left, scope, ctx)?;
        let (query, args, descs) = self.bind_subquery(q, scope, ctx)?;
        if descs.len() != 1 {
            return Err(Error::syntax("subquery has too many columns"));
        }
        let rt = descs[0].data_type;
        let common = DataType::common_type(lt, rt)
            .ok_or_else(|| operator_missing(op.symbol(), Some(lt), rt))?;
        let common = if common == DataType::Unknown {
            DataType::Text
        } else {
            common
        };
        let left = self.coerce(l, lt, common)?;
        let cast = needs_cast(rt, common).then_some(common);
        Ok((
            Expr::Subquery(Box::new(Subquery {
                kind: SubqueryKind::Quantified {
                    left: Box::new(left),
                    op,
                    all,
                    cast,
                },
                query,
                args,
            })),
            DataType::Bool,
        ))
    }

    fn bind_literal(&mut self, v: &ast::Value, hint: Option<DataType>) -> Result<(Expr, DataType)> {
        use ast::Value as V;
        Ok(match v {
            V::Number(text, _) => {
                let value = if let Ok(i) = text.parse::<i32>() {
                    Value::Int4(i)
                } else if let Ok(i) = text.parse::<i64>() {
                    Value::Int8(i)
                } else {
                    Value::Numeric(tessera_types::numeric::Numeric::parse(text)?)
                };
                let t = value.data_type();
                (Expr::Literal(value), t)
            }
            V::SingleQuotedString(s) | V::EscapedStringLiteral(s) => {
                (Expr::Literal(Value::Text(s.clone())), DataType::Unknown)
            }
            V::DollarQuotedString(s) => (
                Expr::Literal(Value::Text(s.value.clone())),
                DataType::Unknown,
            ),
            V::Boolean(b) => (Expr::Literal(Value::Bool(*b)), DataType::Bool),
            V::Null => (Expr::Literal(Value::Null), DataType::Unknown),
            V::Placeholder(p) => {
                let n: usize = p
                    .strip_prefix('$')
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n >= 1 && *n <= 65535)
                    .ok_or_else(|| Error::syntax(format!("syntax error at or near \"{p}\"")))?;
                self.param(n - 1, hint)
            }
            other => return Err(Error::unsupported(format!("the literal {other}"))),
        })
    }

    fn expect_bool(&mut self, e: Expr, t: DataType, what: &str) -> Result<Expr> {
        match t {
            DataType::Bool => Ok(e),
            DataType::Unknown => self.coerce(e, t, DataType::Bool),
            other => Err(Error::datatype_mismatch(format!(
                "argument of {what} must be type boolean, not type {other}"
            ))),
        }
    }

    fn bind_binary(
        &mut self,
        left: &ast::Expr,
        op: &ast::BinaryOperator,
        right: &ast::Expr,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        use ast::BinaryOperator as B;
        if *op == B::Overlaps {
            return self.bind_overlaps(left, right, scope, ctx);
        }
        if !matches!(op, B::PGCustomBinaryOperator(_) | B::And | B::Or) {
            if let Some(bound) = self.bind_row_binary(left, op, right, scope, ctx)? {
                return Ok(bound);
            }
        }
        if let B::PGCustomBinaryOperator(parts) = op {
            // OPERATOR(pg_catalog.~): the built-in operator of that symbol.
            let symbol = match parts.as_slice() {
                [schema, symbol] if schema.eq_ignore_ascii_case("pg_catalog") => symbol,
                [symbol] => symbol,
                _ => return Err(Error::unsupported(format!("the operator {op}"))),
            };
            let standard = match symbol.as_str() {
                "~" => B::PGRegexMatch,
                "~*" => B::PGRegexIMatch,
                "!~" => B::PGRegexNotMatch,
                "!~*" => B::PGRegexNotIMatch,
                "=" => B::Eq,
                "<>" | "!=" => B::NotEq,
                "<" => B::Lt,
                ">" => B::Gt,
                "<=" => B::LtEq,
                ">=" => B::GtEq,
                "+" => B::Plus,
                "-" => B::Minus,
                "*" => B::Multiply,
                "/" => B::Divide,
                "%" => B::Modulo,
                "||" => B::StringConcat,
                _ => {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_FUNCTION,
                        format!("operator does not exist: pg_catalog.{symbol}"),
                    ))
                }
            };
            return self.bind_binary(left, &standard, right, scope, ctx);
        }
        let json_op = match op {
            B::Arrow => Some(JsonFn::Get),
            B::LongArrow => Some(JsonFn::GetText),
            B::HashArrow => Some(JsonFn::Path),
            B::HashLongArrow => Some(JsonFn::PathText),
            B::AtArrow => Some(JsonFn::Contains),
            B::ArrowAt => Some(JsonFn::ContainedBy),
            B::Question => Some(JsonFn::HasKey),
            B::QuestionAnd => Some(JsonFn::HasAll),
            B::QuestionPipe => Some(JsonFn::HasAny),
            B::HashMinus => Some(JsonFn::DeletePath),
            B::PGOverlap => Some(JsonFn::Contains),
            _ => None,
        };
        // @>, <@ and && between arrays.
        if matches!(op, B::AtArrow | B::ArrowAt | B::PGOverlap) {
            let (l, lt) = self.bind_expr(left, scope, ctx)?;
            let (r, rt) = self.bind_expr(right, scope, ctx)?;
            let name = op.to_string();
            if matches!(lt, DataType::Array(_)) || matches!(rt, DataType::Array(_)) {
                let f = match op {
                    B::AtArrow => ArrayFn::Contains,
                    B::ArrowAt => ArrayFn::ContainedBy,
                    _ => ArrayFn::Overlaps,
                };
                return self.array_call(f, &name, vec![(l, lt), (r, rt)]);
            }
            if *op == B::PGOverlap {
                return Err(operator_missing(&name, Some(lt), rt));
            }
            let f = json_op.unwrap_or(JsonFn::Contains);
            return self.json_call(f, &name, vec![(l, lt), (r, rt)]);
        }
        if let Some(f) = json_op {
            return self.bind_json_call(
                f,
                &op.to_string(),
                &[left.clone(), right.clone()],
                scope,
                ctx,
            );
        }
        // `~~`, `~~*`, `!~~`, `!~~*`: LIKE and ILIKE spelled as operators.
        let like = match op {
            B::PGLikeMatch => Some((false, false)),
            B::PGILikeMatch => Some((true, false)),
            B::PGNotLikeMatch => Some((false, true)),
            B::PGNotILikeMatch => Some((true, true)),
            _ => None,
        };
        if let Some((case_insensitive, negated)) = like {
            let (expr, pattern) = (Box::new(left.clone()), Box::new(right.clone()));
            let e = match case_insensitive {
                false => ast::Expr::Like {
                    negated,
                    any: false,
                    expr,
                    pattern,
                    escape_char: None,
                },
                true => ast::Expr::ILike {
                    negated,
                    any: false,
                    expr,
                    pattern,
                    escape_char: None,
                },
            };
            return self.bind_expr(&e, scope, ctx);
        }
        if *op == B::PGStartsWith {
            let args = [left.clone(), right.clone()];
            return self.bind_text_call(crate::text::TextFn::StartsWith, "^@", &args, scope, ctx);
        }
        let regex_match = match op {
            B::PGRegexMatch => Some((false, false)),
            B::PGRegexIMatch => Some((true, false)),
            B::PGRegexNotMatch => Some((false, true)),
            B::PGRegexNotIMatch => Some((true, true)),
            _ => None,
        };
        if let Some((case_insensitive, negated)) = regex_match {
            let f = crate::pattern::PatternFn::Match {
                case_insensitive,
                negated,
            };
            return self.bind_pattern_operands(f, &op.to_string(), &[left, right], scope, ctx);
        }
        let bit_op = match op {
            B::BitwiseAnd => Some(crate::math::MathFn::BitAnd),
            B::BitwiseOr => Some(crate::math::MathFn::BitOr),
            B::PGBitwiseXor => Some(crate::math::MathFn::BitXor),
            B::PGBitwiseShiftLeft => Some(crate::math::MathFn::ShiftLeft),
            B::PGBitwiseShiftRight => Some(crate::math::MathFn::ShiftRight),
            _ => None,
        };
        if let Some(f) = bit_op {
            let (l, lt) = self.bind_expr(left, scope, ctx)?;
            let (r, rt) = self.bind_expr(right, scope, ctx)?;
            return self.bit_operator(f, &op.to_string(), vec![(l, lt), (r, rt)]);
        }
        if *op == B::PGExp {
            return self.bind_math_call(
                crate::math::MathFn::Power,
                "^",
                &[left, right],
                scope,
                ctx,
            );
        }
        let op = match op {
            B::Plus => BinaryOp::Add,
            B::Minus => BinaryOp::Sub,
            B::Multiply => BinaryOp::Mul,
            B::Divide => BinaryOp::Div,
            B::Modulo => BinaryOp::Mod,
            B::Eq => BinaryOp::Eq,
            B::NotEq => BinaryOp::NotEq,
            B::Lt => BinaryOp::Lt,
            B::LtEq => BinaryOp::LtEq,
            B::Gt => BinaryOp::Gt,
            B::GtEq => BinaryOp::GtEq,
            B::And => BinaryOp::And,
            B::Or => BinaryOp::Or,
            B::StringConcat => BinaryOp::Concat,
            other => return Err(Error::unsupported(format!("the operator {other}"))),
        };
        let (l, lt) = self.bind_expr(left, scope, ctx)?;
        // Date/time arithmetic picks its operator from both operand types
        // (`timestamp + $1` is `timestamp + interval`), so an untyped right
        // operand is not given the left one's type beforehand.
        let hint = if op.is_arithmetic() && is_temporal(lt) {
            None
        } else {
            DataType::common_type(DataType::Unknown, lt)
        };
        let right_errors = self.fold_errors.len();
        let (r, rt) = self.bind_expr_hint(right, scope, ctx, hint)?;
        if op.is_arithmetic() && (is_temporal(lt) || is_temporal(rt)) {
            return self.bind_temporal_arithmetic(op, l, lt, r, rt);
        }
        // A parameter on the left takes its type from the right.
        let (l, lt) = match l {
            Expr::Param(i) if lt == DataType::Unknown && rt != DataType::Unknown => {
                self.param(i, DataType::common_type(lt, rt))
            }
            other => (other, lt),
        };
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let l = self.expect_bool(l, lt, op.symbol())?;
                let r = self.expect_bool(r, rt, op.symbol())?;
                // Folded as PostgreSQL folds them, left to right: a constant
                // that decides the result drops what follows it unevaluated
                // (`false AND 1/0 = 1` is false), one that does not is
                // dropped itself; what precedes a deciding constant on the
                // right was reached (`1/0 = 1 AND false` fails).
                let decides = Value::Bool(op == BinaryOp::Or);
                let neutral = Value::Bool(op == BinaryOp::And);
                match (&l, &r) {
                    (Expr::Literal(v), _) if *v == decides => {
                        self.fold_errors.truncate(right_errors);
                        return Ok((l, DataType::Bool));
                    }
                    (Expr::Literal(v), _) if *v == neutral => return Ok((r, DataType::Bool)),
                    (_, Expr::Literal(v)) if *v == decides => return Ok((r, DataType::Bool)),
                    (_, Expr::Literal(v)) if *v == neutral => return Ok((l, DataType::Bool)),
                    _ => {}
                }
                Ok((
                    Expr::Binary {
                        op,
                        left: Box::new(l),
                        right: Box::new(r),
                    },
                    DataType::Bool,
                ))
            }
            BinaryOp::Concat
                if matches!(lt, DataType::Array(_)) || matches!(rt, DataType::Array(_)) =>
            {
                let f = match (lt, rt) {
                    (DataType::Array(_), DataType::Array(_) | DataType::Unknown)
                    | (DataType::Unknown, DataType::Array(_)) => ArrayFn::Cat,
                    (DataType::Array(_), _) => ArrayFn::Append,
                    _ => ArrayFn::Prepend,
                };
                self.array_call(f, "||", vec![(l, lt), (r, rt)])
            }
            BinaryOp::Concat
                if [lt, rt].contains(&DataType::Jsonb) || [lt, rt].contains(&DataType::Bytea) =>
            {
                let f = match [lt, rt].contains(&DataType::Jsonb) {
                    true => JsonFn::Concat,
                    false => JsonFn::ByteaConcat,
                };
                self.json_call(f, "||", vec![(l, lt), (r, rt)])
            }
            BinaryOp::Sub if lt == DataType::Jsonb => {
                self.json_call(JsonFn::Delete, "-", vec![(l, lt), (r, rt)])
            }
            BinaryOp::Concat => {
                let l = self.coerce(l, lt, DataType::Text)?;
                let r = self.coerce(r, rt, DataType::Text)?;
                Ok((
                    Expr::Binary {
                        op,
                        left: Box::new(l),
                        right: Box::new(r),
                    },
                    DataType::Text,
                ))
            }
            _ => {
                let common = DataType::common_type(lt, rt)
                    .ok_or_else(|| operator_missing(op.symbol(), Some(lt), rt))?;
                let common = match common {
                    DataType::Unknown => DataType::Text,
                    // real against an integer: PostgreSQL's operators
                    // (float48mul, float48eq…) take it as double precision.
                    DataType::Float4 if lt.is_integer() || rt.is_integer() => DataType::Float8,
                    common => common,
                };
                // json has no equality or ordering (jsonb has).
                if common == DataType::Json {
                    return Err(operator_missing(op.symbol(), Some(lt), rt));
                }
                if op.is_arithmetic() && !common.is_numeric_family() {
                    return Err(operator_missing(op.symbol(), Some(lt), rt));
                }
                if let Some(e) = date_against_timestamp(op, &l, lt, &r, rt) {
                    return Ok((e, DataType::Bool));
                }
                let l = self.coerce(l, lt, common)?;
                let r = self.coerce(r, rt, common)?;
                let t = if op.is_comparison() {
                    DataType::Bool
                } else {
                    common
                };
                let e = Expr::Binary {
                    op,
                    left: Box::new(l),
                    right: Box::new(r),
                };
                // Constant operands are folded (an error, like 1/0's, is
                // deferred: see `fold_errors`).
                if let Expr::Binary { left, right, .. } = &e {
                    if let (Expr::Literal(a), Expr::Literal(b)) = (&**left, &**right) {
                        let v = crate::expr::binary(op, a.clone(), b.clone());
                        return Ok((self.folded(v, e), t));
                    }
                }
                Ok((e, t))
            }
        }
    }

    /// `(start, end | interval) OVERLAPS (start, end | interval)`: the four
    /// ends (an interval's end its start plus it) cast to their common
    /// date/time type (a date's is timestamp), compared by
    /// `Function::Overlaps`.
    fn bind_overlaps(
        &mut self,
        left: &ast::Expr,
        right: &ast::Expr,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let mut ends = Vec::with_capacity(4);
        for (side, e) in [("left", left), ("right", right)] {
            let Some([start, end]) =
                row::row_constructor(e).and_then(|f| <[_; 2]>::try_from(f).ok())
            else {
                return Err(Error::syntax(format!(
                    "wrong number of parameters on {side} side of OVERLAPS expression"
                )));
            };
            let (s, st) = self.bind_expr(&start, scope, ctx)?;
            let (mut x, mut xt) = self.bind_expr(&end, scope, ctx)?;
            if matches!(xt, DataType::Interval(_)) {
                let sum = ast::Expr::BinaryOp {
                    left: Box::new(ast::Expr::Nested(Box::new(start.clone()))),
                    op: ast::BinaryOperator::Plus,
                    right: Box::new(ast::Expr::Nested(Box::new(end.clone()))),
                };
                (x, xt) = self.bind_expr(&sum, scope, ctx)?;
            }
            ends.push((s, st));
            ends.push((x, xt));
        }
        if ends.iter().all(|(_, t)| *t == DataType::Unknown) {
            return Err(Error::new(
                sqlstate::AMBIGUOUS_FUNCTION,
                "function pg_catalog.overlaps(unknown, unknown, unknown, unknown) is not unique",
            )
            .with_hint("Could not choose a best candidate function. You might need to add explicit type casts."));
        }
        let mut common = DataType::Unknown;
        for (_, t) in &ends {
            common = DataType::common_type(common, *t).unwrap_or(DataType::Text);
        }
        let common = match common {
            DataType::Date => DataType::Timestamp(None),
            t @ (DataType::Time(_)
            | DataType::TimeTz(_)
            | DataType::Timestamp(_)
            | DataType::TimestampTz(_)) => t.unconstrained(),
            _ => {
                let types: Vec<DataType> = ends.iter().map(|(_, t)| *t).collect();
                return Err(no_such_call("pg_catalog.overlaps", &types));
            }
        };
        let mut args = Vec::with_capacity(4);
        for (e, t) in ends {
            args.push(self.coerce(e, t, common)?);
        }
        Ok((
            Expr::Call {
                func: Function::Overlaps,
                args,
            },
            DataType::Bool,
        ))
    }

    /// `+`, `-`, `*`, `/` with a date/time or interval operand: the
    /// operator PostgreSQL would pick ([`temporal_operator`]), operands cast
    /// to its argument types, constants folded.
    fn bind_temporal_arithmetic(
        &mut self,
        op: BinaryOp,
        l: Expr,
        lt: DataType,
        r: Expr,
        rt: DataType,
    ) -> Result<(Expr, DataType)> {
        let (left_type, right_type, result) = temporal_operator(op, lt, rt)?;
        let l = self.coerce(l, lt, left_type)?;
        let r = self.coerce(r, rt, right_type)?;
        let folded = match (&l, &r) {
            (Expr::Literal(a), Expr::Literal(b)) => Some(crate::expr::binary_in(
                op,
                a.clone(),
                b.clone(),
                &self.time.zone,
            )),
            _ => None,
        };
        let e = Expr::Binary {
            op,
            left: Box::new(l),
            right: Box::new(r),
        };
        match folded {
            Some(v) => Ok((self.folded(v, e), result)),
            None => Ok((e, result)),
        }
    }

    /// `INTERVAL '…' [fields]`: the literal read with its field restriction.
    fn bind_interval_literal(
        &mut self,
        interval: &ast::Interval,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let fields = match (&interval.leading_field, &interval.last_field) {
            (None, None) => IntervalFields::FULL,
            (Some(first), last) => {
                let first = extract_unit(first);
                let last = last.as_ref().map(extract_unit);
                IntervalFields::from_names(&first, last.as_deref()).ok_or_else(|| {
                    Error::syntax(format!("syntax error at or near \"{interval}\""))
                })?
            }
            (None, Some(_)) => {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{interval}\""
                )))
            }
        };
        // `SECOND(p)` is the seconds precision; PostgreSQL has no other
        // leading-field precision.
        let precision = match (&interval.leading_field, interval.leading_precision) {
            (_, None) => time_precision(interval.fractional_seconds_precision),
            (Some(ast::DateTimeField::Second), Some(p))
                if interval.last_field.is_none()
                    && interval.fractional_seconds_precision.is_none() =>
            {
                time_precision(Some(p))
            }
            _ => return Err(Error::syntax("syntax error at or near \"(\"")),
        };
        let ty = if fields == IntervalFields::FULL && precision.is_none() {
            DataType::Interval(None)
        } else {
            DataType::Interval(Some(IntervalTypmod { fields, precision }))
        };
        let (x, t) = self.bind_expr_hint(&interval.value, scope, ctx, Some(ty))?;
        match x {
            Expr::Literal(Value::Text(text)) => {
                Ok((Expr::Literal(Value::parse_with(ty, &text, &self.time)?), ty))
            }
            other => {
                if let Expr::Param(i) = other {
                    if t == DataType::Unknown {
                        self.param(i, Some(ty));
                    }
                }
                if !castable(t, ty) && t != DataType::Unknown {
                    return Err(Error::new(
                        sqlstate::CANNOT_COERCE,
                        format!("cannot cast type {t} to {ty}"),
                    ));
                }
                Ok((
                    Expr::Cast {
                        expr: Box::new(other),
                        to: ty,
                        explicit: true,
                    },
                    ty,
                ))
            }
        }
    }

    /// `extract(unit from x)` and `date_part(unit, x)`: `x` a date/time or
    /// interval (a date is a timestamp for `date_part`, as in PostgreSQL).
    fn bind_date_part(
        &mut self,
        func: Function,
        unit: Expr,
        x: Expr,
        t: DataType,
    ) -> Result<(Expr, DataType)> {
        let name = if func == Function::Extract {
            "extract"
        } else {
            "date_part"
        };
        let target = match t.unconstrained() {
            DataType::Date if func == Function::DatePart => DataType::Timestamp(None),
            ty @ (DataType::Date
            | DataType::Time(_)
            | DataType::TimeTz(_)
            | DataType::Timestamp(_)
            | DataType::TimestampTz(_)
            | DataType::Interval(_)) => ty,
            DataType::Unknown => {
                return Err(Error::new(
                    sqlstate::AMBIGUOUS_FUNCTION,
                    format!("function {name}(unknown, unknown) is not unique"),
                )
                .with_hint("Could not choose a best candidate function. You might need to add explicit type casts."))
            }
            other => {
                return Err(Error::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("function {name}(unknown, {other}) does not exist"),
                )
                .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."))
            }
        };
        let x = self.coerce(x, t, target)?;
        let result = if func == Function::Extract {
            DataType::Numeric(None)
        } else {
            DataType::Float8
        };
        Ok((
            Expr::Call {
                func,
                args: vec![unit, x],
            },
            result,
        ))
    }

    /// `x AT TIME ZONE zone`: a timestamptz becomes the zone's wall clock
    /// (timestamp), a timestamp is read in the zone (timestamptz), a time
    /// with time zone moves to the zone. An untyped `x` is a timestamptz.
    fn bind_at_time_zone(
        &mut self,
        x: Expr,
        t: DataType,
        zone: Expr,
        zone_type: DataType,
    ) -> Result<(Expr, DataType)> {
        let (target, result) = match t.unconstrained() {
            DataType::Timestamp(None) => (DataType::Timestamp(None), DataType::TimestampTz(None)),
            DataType::Date | DataType::TimestampTz(None) | DataType::Unknown => {
                (DataType::TimestampTz(None), DataType::Timestamp(None))
            }
            DataType::Time(None) | DataType::TimeTz(None) => {
                (DataType::TimeTz(None), DataType::TimeTz(None))
            }
            other => {
                return Err(Error::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("function pg_catalog.timezone({zone_type}, {other}) does not exist"),
                )
                .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."))
            }
        };
        let zone = match zone_type.unconstrained() {
            DataType::Interval(None) => zone,
            t if t.is_string() => self.coerce(zone, zone_type, DataType::Text)?,
            other => {
                return Err(Error::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!(
                        "function pg_catalog.timezone({other}, {}) does not exist",
                        target
                    ),
                ))
            }
        };
        let x = self.coerce(x, t, target)?;
        Ok((
            Expr::Call {
                func: Function::AtTimeZone,
                args: vec![x, zone],
            },
            result,
        ))
    }

    /// The date/time functions: the clock (`now()` and the SQL value
    /// functions), `date_part`, `date_trunc`, `age`, `justify_*`,
    /// `isfinite`, `to_timestamp`. `None` when `name` is none of them.
    fn bind_datetime_function(
        &mut self,
        name: &str,
        f: &ast::Function,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Option<(Expr, DataType)>> {
        let without_parens = matches!(f.args, ast::FunctionArguments::None);
        // The SQL value functions take an optional precision: `current_timestamp(3)`.
        let precision = |args: &[ast::Expr]| -> Result<Option<u8>> {
            match args {
                [] => Ok(None),
                [ast::Expr::Value(v)] => match &v.value {
                    ast::Value::Number(n, _) => n
                        .parse::<u64>()
                        .map(|p| Some(p.min(datetime::PRECISION_MAX as u64) as u8))
                        .map_err(|_| Error::syntax(format!("syntax error at or near \"{n}\""))),
                    other => Err(Error::syntax(format!(
                        "syntax error at or near \"{other}\""
                    ))),
                },
                _ => Err(Error::syntax(format!("syntax error in call to {name}"))),
            }
        };
        let now = Expr::Now(Clock::Transaction);
        let cast = |e: Expr, to: DataType| Expr::Cast {
            expr: Box::new(e),
            to,
            explicit: true,
        };
        let value_function = matches!(
            name,
            "current_timestamp" | "current_date" | "current_time" | "localtimestamp" | "localtime"
        );
        if value_function && !without_parens && args.is_empty() {
            return Err(Error::syntax(format!(
                "syntax error at or near \"(\" after {name}"
            )));
        }
        let bound = match name {
            "now" | "transaction_timestamp" | "statement_timestamp" | "clock_timestamp"
                if !without_parens =>
            {
                if !args.is_empty() {
                    return Err(self.no_function(name, args, scope, ctx)?);
                }
                let clock = match name {
                    "statement_timestamp" => Clock::Statement,
                    "clock_timestamp" => Clock::Wall,
                    _ => Clock::Transaction,
                };
                (Expr::Now(clock), DataType::TimestampTz(None))
            }
            "current_timestamp" => match precision(args)? {
                None => (now, DataType::TimestampTz(None)),
                Some(p) => (
                    cast(now, DataType::TimestampTz(Some(p))),
                    DataType::TimestampTz(Some(p)),
                ),
            },
            "localtimestamp" => {
                let t = DataType::Timestamp(precision(args)?);
                (cast(now, t), t)
            }
            "current_time" => {
                let t = DataType::TimeTz(precision(args)?);
                (cast(now, t), t)
            }
            "localtime" => {
                let t = DataType::Time(precision(args)?);
                (cast(now, t), t)
            }
            "current_date" if without_parens => (cast(now, DataType::Date), DataType::Date),
            "date_part" | "date_trunc" | "age" | "justify_days" | "justify_hours"
            | "justify_interval" | "isfinite" | "to_timestamp" | "date_bin" => {
                let mut bound = Vec::new();
                for (i, a) in args.iter().enumerate() {
                    let hint = (i == 0 && matches!(name, "date_part" | "date_trunc"))
                        .then_some(DataType::Text);
                    bound.push(self.bind_expr_hint(a, scope, ctx, hint)?);
                }
                match self.bind_datetime_call(name, bound)? {
                    Some(b) => b,
                    None => return Err(self.no_function(name, args, scope, ctx)?),
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(bound))
    }

    /// The 42883 error for a call with these arguments.
    fn no_function(
        &mut self,
        name: &str,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Error> {
        let mut types = Vec::new();
        for a in args {
            types.push(self.bind_expr(a, scope, ctx)?.1.name());
        }
        Ok(no_such_function(&format!("{name}({})", types.join(", "))))
    }

    /// Types the arguments of a date/time function; `None` when no variant
    /// of it takes them.
    fn bind_datetime_call(
        &mut self,
        name: &str,
        bound: Vec<(Expr, DataType)>,
    ) -> Result<Option<(Expr, DataType)>> {
        use DataType as T;
        let types: Vec<DataType> = bound.iter().map(|(_, t)| t.unconstrained()).collect();
        // The timestamp-taking variants: timestamp stays, date and untyped
        // text become timestamptz (PostgreSQL's preferred date/time type).
        let stamp = |t: DataType| match t {
            T::Timestamp(None) => Some(T::Timestamp(None)),
            T::TimestampTz(None) | T::Date | T::Unknown => Some(T::TimestampTz(None)),
            _ => None,
        };
        let unit_ok = |t: DataType| t.is_string();
        let (func, targets, result) = match (name, types.as_slice()) {
            ("date_part", [u, x]) if unit_ok(*u) => {
                let mut it = bound.into_iter();
                let (unit, ut) = it.next().unwrap_or((Expr::literal_null(), T::Text));
                let (x, xt) = it.next().unwrap_or((Expr::literal_null(), T::Unknown));
                let unit = self.coerce(unit, ut, T::Text)?;
                return self
                    .bind_date_part(Function::DatePart, unit, x, xt)
                    .map(Some);
            }
            ("date_trunc", [u, x]) if unit_ok(*u) => {
                let target = match x {
                    T::Interval(None) => T::Interval(None),
                    t => match stamp(*t) {
                        Some(t) => t,
                        None => return Ok(None),
                    },
                };
                (Function::DateTrunc, vec![T::Text, target], target)
            }
            // date_trunc(unit, timestamptz, zone): truncated on that
            // zone's wall clock.
            ("date_trunc", [u, x, z])
                if unit_ok(*u)
                    && unit_ok(*z)
                    && matches!(x, T::TimestampTz(None) | T::Date | T::Unknown) =>
            {
                let tz = T::TimestampTz(None);
                (Function::DateTrunc, vec![T::Text, tz, T::Text], tz)
            }
            ("age", [a, b]) => match (stamp(*a), stamp(*b)) {
                (Some(x), Some(y)) => {
                    let t = if x == y { x } else { T::TimestampTz(None) };
                    (Function::Age, vec![t, t], T::Interval(None))
                }
                _ => return Ok(None),
            },
            ("age", [a]) => match stamp(*a) {
                Some(t) => {
                    // age(x) is age(current_date, x): midnight today.
                    let (x, xt) = bound
                        .into_iter()
                        .next()
                        .unwrap_or((Expr::literal_null(), t));
                    let x = self.coerce(x, xt, t)?;
                    let today = Expr::Cast {
                        expr: Box::new(Expr::Cast {
                            expr: Box::new(Expr::Now(Clock::Transaction)),
                            to: T::Date,
                            explicit: true,
                        }),
                        to: t,
                        explicit: true,
                    };
                    return Ok(Some((
                        Expr::Call {
                            func: Function::Age,
                            args: vec![today, x],
                        },
                        T::Interval(None),
                    )));
                }
                None => return Ok(None),
            },
            (
                "justify_days" | "justify_hours" | "justify_interval",
                [T::Interval(None) | T::Unknown],
            ) => {
                let func = match name {
                    "justify_days" => Function::JustifyDays,
                    "justify_hours" => Function::JustifyHours,
                    _ => Function::JustifyInterval,
                };
                (func, vec![T::Interval(None)], T::Interval(None))
            }
            ("isfinite", [t]) => {
                let target = match t {
                    T::Date | T::Timestamp(None) | T::TimestampTz(None) | T::Interval(None) => *t,
                    _ => return Ok(None),
                };
                (Function::IsFinite, vec![target], T::Bool)
            }
            ("date_bin", [T::Interval(None) | T::Unknown, x, o]) => {
                let t = match (x, o) {
                    (T::Timestamp(None), T::Timestamp(None) | T::Unknown)
                    | (T::Unknown, T::Timestamp(None)) => T::Timestamp(None),
                    _ => match (stamp(*x), stamp(*o)) {
                        (Some(_), Some(_)) => T::TimestampTz(None),
                        _ => return Ok(None),
                    },
                };
                (Function::DateBin, vec![T::Interval(None), t, t], t)
            }
            ("to_timestamp", [t]) if t.is_numeric_family() || *t == T::Unknown => {
                (Function::ToTimestamp, vec![T::Float8], T::TimestampTz(None))
            }
            _ => return Ok(None),
        };
        let mut args = Vec::with_capacity(bound.len());
        for ((e, t), target) in bound.into_iter().zip(targets) {
            args.push(self.coerce(e, t, target)?);
        }
        Ok(Some((Expr::Call { func, args }, result)))
    }

    /// A call, evaluated at once when every argument is a constant (an
    /// error it raises is deferred, see [`Binder::fold_errors`]).
    fn fold_call(
        &mut self,
        func: Function,
        args: Vec<Expr>,
        result: DataType,
    ) -> Result<(Expr, DataType)> {
        let folds = match func {
            Function::Array(_) => true,
            Function::Json(f) => !f.is_volatile(),
            _ => false,
        };
        if !folds || !args.iter().all(|a| matches!(a, Expr::Literal(_))) {
            return Ok((Expr::Call { func, args }, result));
        }
        let values: Vec<Value> = args
            .iter()
            .map(|a| match a {
                Expr::Literal(v) => v.clone(),
                _ => Value::Null,
            })
            .collect();
        // What JSON and array_to_string write of floats, intervals and
        // dates follows the session's output settings, which may change
        // before the statement runs.
        if matches!(func, Function::Json(_) | Function::Array(ArrayFn::ToString))
            && !values.iter().all(style_free)
        {
            return Ok((Expr::Call { func, args }, result));
        }
        let folded = match func {
            Function::Array(f) => f.eval(&values),
            Function::Json(f) => f.eval(&values),
            _ => return Ok((Expr::Call { func, args }, result)),
        };
        Ok((self.folded(folded, Expr::Call { func, args }), result))
    }

    /// `value`, the constant `unfolded` evaluates to, as a literal; or, if
    /// evaluating it failed, `unfolded` itself, its error kept in
    /// [`Binder::fold_errors`] for the statement to raise when it runs
    /// unless the branch holding it turns out unreachable.
    fn folded(&mut self, value: Result<Value>, unfolded: Expr) -> Expr {
        match value {
            Ok(v) => Expr::Literal(v),
            Err(e) => {
                self.fold_errors.push(e);
                unfolded
            }
        }
    }

    /// Forgets the deferred errors of subexpressions found unreachable:
    /// those recorded in each of `spans` (positions in
    /// [`Binder::fold_errors`], disjoint).
    fn drop_fold_errors(&mut self, mut spans: Vec<std::ops::Range<usize>>) {
        spans.sort_by_key(|r| std::cmp::Reverse(r.start));
        for span in spans {
            self.fold_errors.drain(span);
        }
    }

    /// COALESCE folded as PostgreSQL folds it: NULL constants dropped, and
    /// everything after the first other constant, whose deferred errors
    /// (`coalesce(1, 1/0)`) go with it. `errors_from[k]` is where argument
    /// `k`'s deferred errors start in [`Binder::fold_errors`].
    fn fold_coalesce(&mut self, args: Vec<Expr>, errors_from: &[usize]) -> Expr {
        let mut kept = Vec::with_capacity(args.len());
        for (k, a) in args.into_iter().enumerate() {
            match a {
                Expr::Literal(Value::Null) => {}
                Expr::Literal(_) => {
                    kept.push(a);
                    if let Some(&start) = errors_from.get(k + 1) {
                        self.fold_errors.truncate(start);
                    }
                    break;
                }
                _ => kept.push(a),
            }
        }
        match kept.len() {
            0 => Expr::Literal(Value::Null),
            1 => kept.pop().unwrap_or(Expr::Literal(Value::Null)),
            _ => Expr::Call {
                func: Function::Coalesce,
                args: kept,
            },
        }
    }

    fn bind_case(
        &mut self,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        else_result: Option<&ast::Expr>,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let mut operand_bound = None;
        let mut operand_type = DataType::Unknown;
        if let Some(o) = operand {
            let (x, t) = self.bind_expr(o, scope, ctx)?;
            operand_bound = Some(x);
            operand_type = t;
        }
        let mut whens = Vec::new();
        let mut result_type = DataType::Unknown;
        let mut results = Vec::new();
        // Where the deferred errors of each result, and of each arm after
        // it, start in `fold_errors` (for `fold_case`).
        let mut result_errors = Vec::with_capacity(conditions.len());
        let mut when_errors = Vec::with_capacity(conditions.len());
        for c in conditions {
            let (w, wt) = if operand.is_some() {
                self.bind_expr_hint(&c.condition, scope, ctx, Some(operand_type))?
            } else {
                let (w, wt) = self.bind_expr(&c.condition, scope, ctx)?;
                (self.expect_bool(w, wt, "CASE/WHEN")?, DataType::Bool)
            };
            if operand.is_some() {
                operand_type = DataType::common_type(operand_type, wt)
                    .ok_or_else(|| operator_missing("=", Some(operand_type), wt))?;
            }
            result_errors.push(self.fold_errors.len());
            let (r, rt) = self.bind_expr(&c.result, scope, ctx)?;
            result_type = unify(result_type, rt).ok_or_else(|| {
                Error::datatype_mismatch(format!(
                    "CASE types {result_type} and {rt} cannot be matched"
                ))
            })?;
            whens.push((w, wt));
            results.push((r, rt));
            when_errors.push(self.fold_errors.len());
        }
        let otherwise = match else_result {
            Some(e) => {
                let (x, t) = self.bind_expr(e, scope, ctx)?;
                result_type = unify(result_type, t).ok_or_else(|| {
                    Error::datatype_mismatch(format!(
                        "CASE types {result_type} and {t} cannot be matched"
                    ))
                })?;
                Some((x, t))
            }
            None => None,
        };
        let result_type = if result_type == DataType::Unknown {
            DataType::Text
        } else {
            result_type
        };
        let mut pairs = Vec::new();
        for ((w, wt), (r, rt)) in whens.into_iter().zip(results) {
            let w = if operand.is_some() {
                self.coerce(w, wt, operand_type)?
            } else {
                w
            };
            pairs.push((w, self.coerce(r, rt, result_type)?));
        }
        let otherwise = match otherwise {
            Some((x, t)) => Some(Box::new(self.coerce(x, t, result_type)?)),
            None => None,
        };
        let operand = match operand_bound {
            Some(x) => Some(Box::new(self.coerce(x, operand_type, operand_type)?)),
            None => None,
        };
        let spans: Vec<_> = result_errors
            .into_iter()
            .zip(when_errors)
            .map(|(start, end)| start..end)
            .collect();
        Ok((
            self.fold_case(operand, pairs, otherwise, &spans),
            result_type,
        ))
    }

    /// CASE folded as PostgreSQL folds it, arm by arm: an arm whose
    /// condition is a false or NULL constant is dropped with its result;
    /// one whose condition is a true constant ends the CASE, its result
    /// the ELSE (or the whole CASE if no arm is left before it), and what
    /// follows is dropped. Results and arms dropped take their deferred
    /// errors with them (`CASE WHEN true THEN 1 ELSE 1/0 END` is 1).
    /// `spans[k]` is where arm `k`'s result's errors start, and where the
    /// next arm's (or the ELSE's) start, in [`Binder::fold_errors`].
    fn fold_case(
        &mut self,
        operand: Option<Box<Expr>>,
        pairs: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
        spans: &[std::ops::Range<usize>],
    ) -> Expr {
        let mut kept = Vec::with_capacity(pairs.len());
        let mut unreached = Vec::new();
        let mut otherwise = otherwise;
        for (k, (when, result)) in pairs.into_iter().enumerate() {
            // With an operand, an arm is taken when operand = value.
            let truth = match (operand.as_deref(), &when) {
                (None, Expr::Literal(v)) => Some(v.clone()),
                (Some(Expr::Literal(o)), Expr::Literal(v)) => {
                    crate::expr::binary(BinaryOp::Eq, o.clone(), v.clone()).ok()
                }
                _ => None,
            };
            let span = spans.get(k).cloned().unwrap_or(0..0);
            match truth {
                Some(Value::Bool(true)) => {
                    let end = self.fold_errors.len();
                    unreached.push(span.end..end);
                    otherwise = Some(Box::new(result));
                    break;
                }
                Some(Value::Bool(false) | Value::Null) => unreached.push(span),
                _ => kept.push((when, result)),
            }
        }
        self.drop_fold_errors(unreached);
        if kept.is_empty() {
            return otherwise.map_or(Expr::Literal(Value::Null), |e| *e);
        }
        Expr::Case {
            operand,
            whens: kept,
            otherwise,
        }
    }

    /// A call's arguments, DISTINCT, `*`, and the ORDER BY inside it.
    fn function_args<'f>(
        &self,
        f: &'f ast::Function,
    ) -> Result<(Vec<ast::Expr>, bool, bool, &'f [ast::OrderByExpr])> {
        match &f.args {
            ast::FunctionArguments::None => Ok((vec![], false, false, &[])),
            ast::FunctionArguments::List(list) => {
                let mut order_by: &[ast::OrderByExpr] = &[];
                for clause in &list.clauses {
                    match clause {
                        ast::FunctionArgumentClause::OrderBy(o) if order_by.is_empty() => {
                            order_by = o
                        }
                        _ => return Err(Error::unsupported(format!("the function call {f}"))),
                    }
                }
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut out = Vec::new();
                let mut star = false;
                for a in &list.args {
                    match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                            out.push(e.clone())
                        }
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                        other => {
                            return Err(Error::unsupported(format!(
                                "the function argument {other}"
                            )))
                        }
                    }
                }
                Ok((out, distinct, star, order_by))
            }
            ast::FunctionArguments::Subquery(_) => Err(Error::unsupported(format!(
                "the subquery argument of {}",
                f.name
            ))),
        }
    }

    /// A call of a catalog function ([`CatalogFn`]), or `None`.
    fn bind_catalog_call(
        &mut self,
        name: &str,
        f: &ast::Function,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Option<(Expr, DataType)>> {
        let ast::FunctionArguments::List(list) = &f.args else {
            return Ok(None);
        };
        let Some((func, result, params)) = CatalogFn::named(name, list.args.len()) else {
            if name == "pg_typeof" && list.args.len() == 1 {
                // The argument's type, known once bound (an untyped
                // literal is `unknown`, as in PostgreSQL).
                let (args, ..) = self.function_args(f)?;
                let (_, t) = self.bind_expr(&args[0], scope, ctx)?;
                let oid = Expr::Literal(Value::Int8(t.oid() as i64));
                return Ok(Some((oid, DataType::Reg(tessera_types::RegKind::Type))));
            }
            if name == "pg_partition_ancestors" && list.args.len() == 1 {
                // No table is a partition: a relation's one ancestor is itself.
                let (args, ..) = self.function_args(f)?;
                let hint = Some(DataType::Reg(tessera_types::RegKind::Class));
                let (x, t) = self.bind_expr_hint(&args[0], scope, ctx, hint)?;
                let x = match t {
                    t if t.is_string() => self.reg_in(x, tessera_types::RegKind::Class)?,
                    _ => self.coerce(x, t, DataType::Reg(tessera_types::RegKind::Class))?,
                };
                return Ok(Some((x, DataType::Reg(tessera_types::RegKind::Class))));
            }
            return Ok(None);
        };
        let (args, distinct, star, _) = self.function_args(f)?;
        if distinct || star {
            return Ok(None);
        }
        let mut bound = Vec::with_capacity(args.len());
        for (a, want) in args.iter().zip(params) {
            let (x, t) = self.bind_expr_hint(a, scope, ctx, Some(*want))?;
            if let Expr::Param(i) = x {
                if t == DataType::Unknown {
                    self.param(i, Some(*want));
                }
            }
            let class = DataType::Reg(tessera_types::RegKind::Class);
            let x = match (t, *want) {
                (DataType::Unknown, DataType::Oid) => self.coerce(x, t, DataType::Oid)?,
                // A relation by name (looked up as `::regclass` does) or by oid.
                (t, want) if want == class && (t.is_string() || t == DataType::Unknown) => {
                    self.reg_in(x, tessera_types::RegKind::Class)?
                }
                (t, want) if want == class && (t.is_oid_like() || t.is_integer()) => {
                    self.coerce(x, t, class)?
                }
                (t, want) if t == want || t == DataType::Unknown => self.coerce(x, t, want)?,
                (t, DataType::Oid) if t.is_oid_like() || t.is_integer() => {
                    self.coerce(x, t, DataType::Oid)?
                }
                (t, DataType::Int4) if t.is_integer() => self.coerce(x, t, DataType::Int4)?,
                (t, DataType::Text) if t.is_string() => x,
                (t, _) => return Err(no_such_call(name, &[t])),
            };
            bound.push(x);
        }
        let system = self.system();
        Ok(Some((
            Expr::Catalog {
                func,
                system,
                args: bound,
            },
            result,
        )))
    }

    fn bind_function(
        &mut self,
        f: &ast::Function,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let name = function_name(f);
        if let (ast::FunctionArguments::Subquery(q), "array") = (&f.args, name.as_str()) {
            let (query, args, descs) = self.bind_subquery(q, scope, ctx)?;
            if descs.len() != 1 {
                return Err(Error::syntax("subquery must return only one column"));
            }
            let t = descs[0].data_type;
            let elem = tessera_types::array::Elem::of(t)
                .ok_or_else(|| Error::unsupported(format!("arrays of {t}")))?;
            let sub = Subquery {
                kind: SubqueryKind::Array(elem),
                query,
                args,
            };
            return Ok((Expr::Subquery(Box::new(sub)), DataType::Array(elem)));
        }
        if let Some(bound) = self.bind_catalog_call(&name, f, scope, ctx)? {
            return Ok(bound);
        }
        if let Some(bound) = self.bind_formatting_call(&name, f, scope, ctx)? {
            return Ok(bound);
        }
        let (args, distinct, star, order_by) = self.function_args(f)?;
        let call = AggregateCall {
            name: &name,
            args: &args,
            distinct,
            star,
            filter: f.filter.as_deref(),
            order_by,
            within_group: &f.within_group,
        };
        if !f.within_group.is_empty() {
            if !order_by.is_empty() {
                return Err(Error::syntax(
                    "cannot use multiple ORDER BY clauses with WITHIN GROUP",
                ));
            }
            if !is_ordered_set_name(&name) {
                return Err(self.misplaced_within_group(&name, &args, star, f, scope));
            }
        }
        if !order_by.is_empty() && !is_aggregate_name(&name) {
            return Err(Error::unsupported(format!(
                "ORDER BY in a call of {name}, which is not an aggregate"
            )));
        }
        if let Some(over) = &f.over {
            return self.bind_window(call, over, scope, ctx);
        }
        if name == "grouping" && !distinct && !star && f.filter.is_none() {
            return self.bind_grouping(&args, scope, ctx);
        }
        if is_aggregate_name(&name) {
            return self.bind_aggregate(call, scope, ctx);
        }
        if f.filter.is_some() {
            return Err(Error::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!("FILTER specified, but {name} is not an aggregate function"),
            ));
        }
        if !distinct && !star {
            if let Some(bound) = self.bind_datetime_function(&name, f, &args, scope, ctx)? {
                return Ok(bound);
            }
            if let Some(bound) = self.bind_sequence_function(&name, &args, scope, ctx)? {
                return Ok(bound);
            }
            if let Some(bound) = self.bind_enum_function(&name, &args, scope, ctx)? {
                return Ok(bound);
            }
            if let Some(bound) = self.bind_schema_function(&name, &args, scope, ctx)? {
                return Ok(bound);
            }
            // CURRENT_USER, SESSION_USER, CURRENT_ROLE: keywords, written
            // without parentheses; the session's role (no SET ROLE here,
            // so all three agree).
            let user_keyword = matches!(
                name.as_str(),
                "current_user" | "session_user" | "current_role"
            );
            if user_keyword && matches!(f.args, ast::FunctionArguments::None) {
                let user = Value::Text(self.names.user.clone());
                return Ok((Expr::Literal(user), DataType::Text));
            }
        }
        if distinct || star {
            return Err(Error::syntax(format!("syntax error in call to {name}")));
        }
        if let ("row_to_json", [row, pretty @ ..]) = (name.as_str(), args.as_slice()) {
            // row_to_json(record [, bool]): a FROM item's whole row, or
            // any record value; 42883 for anything else.
            let (e, t) = match self.bind_whole_row(row, scope, ctx, false)? {
                Some(whole) => whole,
                None => {
                    let (e, t) = self.bind_expr(row, scope, ctx)?;
                    if !matches!(t, DataType::Record(_)) {
                        let mut types = vec![t];
                        for p in pretty {
                            types.push(self.bind_expr(p, scope, ctx)?.1);
                        }
                        return Err(no_such_call(&name, &types));
                    }
                    (e, t)
                }
            };
            let mut bound = vec![(e, t)];
            for p in pretty {
                bound.push(self.bind_expr_hint(p, scope, ctx, Some(DataType::Bool))?);
            }
            return self.json_call(JsonFn::RowToJson, &name, bound);
        }
        if let ("to_json" | "to_jsonb", [arg]) = (name.as_str(), args.as_slice()) {
            if let Some(row) = self.bind_whole_row(arg, scope, ctx, name == "to_jsonb")? {
                return Ok(row);
            }
        }
        if let ("num_nulls" | "num_nonnulls", [_, ..]) = (name.as_str(), args.as_slice()) {
            // How many arguments are (not) NULL: a sum of CASEs.
            let test = if name == "num_nulls" {
                "IS NULL"
            } else {
                "IS NOT NULL"
            };
            let terms: Vec<String> = args
                .iter()
                .map(|a| format!("CASE WHEN ({a}) {test} THEN 1 ELSE 0 END"))
                .collect();
            let sum = crate::parser::parse_expr(&format!("({})::int4", terms.join(" + ")))?;
            return self.bind_expr(&sum, scope, ctx);
        }
        if let Some(f) = JsonFn::named(&name) {
            return self.bind_json_call(f, &name, &args, scope, ctx);
        }
        if let Some(f) = crate::advisory::AdvisoryFn::named(&name, args.len()) {
            let types: &[DataType] = match args.len() {
                1 => &[DataType::Int8],
                2 => &[DataType::Int4, DataType::Int4],
                _ => &[],
            };
            let bound = self.bind_args_as(&args, types, scope, ctx)?;
            self.advisory_waits |= f.may_wait();
            let result = if f.returns_bool() {
                DataType::Bool
            } else {
                DataType::Text
            };
            let call = Expr::Call {
                func: Function::Advisory(f),
                args: bound,
            };
            return Ok((call, result));
        }
        let setting = match (name.as_str(), args.len()) {
            ("current_setting", 1) => Some((false, &[DataType::Text][..])),
            ("current_setting", 2) => Some((false, &[DataType::Text, DataType::Bool][..])),
            ("set_config", 3) => {
                Some((true, &[DataType::Text, DataType::Text, DataType::Bool][..]))
            }
            _ => None,
        };
        if let Some((set, types)) = setting {
            let bound = self.bind_args_as(&args, types, scope, ctx)?;
            self.uses_settings = true;
            return Ok((Expr::Setting { set, args: bound }, DataType::Text));
        }
        if let Some((f, result, params)) = crate::activity::SessionFn::named(&name, args.len()) {
            let bound = self.bind_args_as(&args, params, scope, ctx)?;
            self.sleeps |= f == crate::activity::SessionFn::Sleep;
            let call = Expr::Call {
                func: Function::Session(f),
                args: bound,
            };
            return Ok((call, result));
        }
        if let Some(f) = ArrayFn::named(&name) {
            let mut bound = Vec::with_capacity(args.len());
            for a in &args {
                bound.push(self.bind_expr(a, scope, ctx)?);
            }
            return self.array_call(f, &name, bound);
        }
        if matches!(name.as_str(), "unnest" | "generate_series") || TableFn::named(&name).is_some()
        {
            return Err(Error::unsupported(format!(
                "the set-returning function {name}() outside FROM"
            )));
        }
        if let Some(f) = crate::pattern::PatternFn::named(&name) {
            return self.bind_pattern_call(f, &name, &args, scope, ctx);
        }
        if let Some(f) = crate::bytea::ByteaFn::named(&name) {
            return self.bind_json_call(JsonFn::Bytea(f), &name, &args, scope, ctx);
        }
        if let Some(f) = crate::text::TextFn::named(&name) {
            if f.signature(args.len()).is_some() {
                return self.bind_text_call(f, &name, &args, scope, ctx);
            }
        }
        let mut bound = Vec::new();
        // Where each argument's deferred errors start in `fold_errors`.
        let mut arg_errors = Vec::with_capacity(args.len());
        for a in &args {
            arg_errors.push(self.fold_errors.len());
            bound.push(self.bind_expr(a, scope, ctx)?);
        }
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        let missing = || no_such_call(&name, &types);
        if let ("length", [DataType::Bytea]) = (name.as_str(), types.as_slice()) {
            let f = JsonFn::Bytea(crate::bytea::ByteaFn::Length);
            return self.json_call(f, &name, bound);
        }
        if let ("pg_size_pretty", [t @ (DataType::Int2 | DataType::Int4 | DataType::Unknown)]) =
            (name.as_str(), types.as_slice())
        {
            // Both the bigint and the numeric form take it.
            return Err(Error::new(
                sqlstate::AMBIGUOUS_FUNCTION,
                format!("function pg_size_pretty({}) is not unique", t.name()),
            )
            .with_hint("Could not choose a best candidate function. You might need to add explicit type casts."));
        }
        if let Some(f) = crate::math::MathFn::named(&name) {
            return self.math_call(f, &name, bound);
        }
        let func = match name.as_str() {
            "abs" => Function::Abs,
            "lower" => Function::Lower,
            "upper" => Function::Upper,
            "length" | "char_length" | "character_length" => Function::Length,
            "coalesce" => Function::Coalesce,
            "nullif" => Function::NullIf,
            "greatest" => Function::Greatest,
            "least" => Function::Least,
            _ => return Err(missing()),
        };
        match func {
            Function::Abs
                if types.len() == 1
                    && (types[0].is_numeric_family() || types[0] == DataType::Unknown) =>
            {
                let t = if types[0] == DataType::Unknown {
                    DataType::Float8
                } else {
                    types[0]
                };
                let (e, et) = bound.pop().unwrap_or((Expr::literal_null(), t));
                let e = self.coerce(e, et, t)?;
                Ok((
                    Expr::Call {
                        func,
                        args: vec![e],
                    },
                    t,
                ))
            }
            Function::Lower | Function::Upper | Function::Length
                if types.len() == 1 && types[0].is_string() =>
            {
                let (e, et) = bound
                    .pop()
                    .unwrap_or((Expr::literal_null(), DataType::Text));
                let e = self.coerce(e, et, DataType::Text)?;
                let t = if func == Function::Length {
                    DataType::Int4
                } else {
                    DataType::Text
                };
                Ok((
                    Expr::Call {
                        func,
                        args: vec![e],
                    },
                    t,
                ))
            }
            Function::Coalesce | Function::Greatest | Function::Least | Function::NullIf
                if !types.is_empty() =>
            {
                if func == Function::NullIf && types.len() != 2 {
                    return Err(missing());
                }
                let mut t = DataType::Unknown;
                for bt in &types {
                    t = unify(t, *bt).ok_or_else(|| {
                        Error::datatype_mismatch(format!(
                            "{} types {t} and {bt} cannot be matched",
                            name.to_uppercase()
                        ))
                    })?;
                }
                let t = if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                };
                let args = bound
                    .into_iter()
                    .map(|(e, et)| self.coerce(e, et, t))
                    .collect::<Result<Vec<_>>>()?;
                if func == Function::Coalesce {
                    return Ok((self.fold_coalesce(args, &arg_errors), t));
                }
                Ok((Expr::Call { func, args }, t))
            }
            _ => Err(missing()),
        }
    }

    fn bind_aggregate(
        &mut self,
        call: AggregateCall,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        if let Ctx::Row { clause } = ctx {
            return Err(Error::new(
                sqlstate::GROUPING_ERROR,
                format!("aggregate functions are not allowed in {clause}"),
            ));
        }
        let call = self.agg_call(
            call,
            scope,
            &mut Ctx::Row {
                clause: "aggregate function calls",
            },
        )?;
        let Ctx::Grouped { keys, aggs, .. } = ctx else {
            return Err(Error::internal("an aggregate outside a grouped query"));
        };
        let result_type = call.result_type;
        let index = match aggs.iter().position(|a| *a == call) {
            Some(i) => i,
            None => {
                aggs.push(call);
                aggs.len() - 1
            }
        };
        Ok((Expr::Column(keys.len() + index), result_type))
    }

    /// `LATERAL (query)`: a query that may read the FROM items before it,
    /// as a correlated subquery does its enclosing row; the arguments are
    /// over the joined row. Without such references it is a plain one.
    fn bind_lateral(
        &mut self,
        q: &ast::Query,
        scope: &Scope,
    ) -> Result<(SelectPlan, Vec<ColumnDesc>, Vec<Expr>)> {
        self.bind_inside(q, scope, &mut Ctx::Row { clause: "FROM" })
    }

    /// `GROUPING(a, b, …)`: a bit per argument, set when the row's
    /// grouping set leaves that key out (the first argument the most
    /// significant bit).
    fn bind_grouping(
        &mut self,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let not_a_key = || {
            Error::new(
                sqlstate::GROUPING_ERROR,
                "arguments to GROUPING must be grouping expressions of the associated query level",
            )
        };
        let mut positions = Vec::new();
        for a in args {
            let (e, _) = match self.bind_expr(a, scope, ctx) {
                Err(e) if e.code == sqlstate::GROUPING_ERROR => return Err(not_a_key()),
                other => other?,
            };
            let Ctx::Grouped { key_exprs, .. } = ctx else {
                let clause = match ctx {
                    Ctx::Row { clause } => *clause,
                    Ctx::Grouped { .. } => "",
                };
                return Err(Error::new(
                    sqlstate::GROUPING_ERROR,
                    format!("aggregate functions are not allowed in {clause}"),
                ));
            };
            match e {
                Expr::Column(i) if i < key_exprs.len() => positions.push(i),
                _ => return Err(not_a_key()),
            }
        }
        if args.is_empty() || args.len() > 31 {
            return Err(Error::syntax(
                "GROUPING must have between 1 and 31 arguments",
            ));
        }
        let Ctx::Grouped { sets, keys, .. } = ctx else {
            return Err(Error::internal("GROUPING outside a grouped query"));
        };
        if sets.is_empty() {
            return Ok((Expr::Literal(Value::Int4(0)), DataType::Int4));
        }
        let whens = sets
            .iter()
            .enumerate()
            .map(|(n, set)| {
                let mask = positions
                    .iter()
                    .fold(0i32, |m, p| (m << 1) | i32::from(!set[*p]));
                (
                    Expr::Literal(Value::Int4(n as i32)),
                    Expr::Literal(Value::Int4(mask)),
                )
            })
            .collect();
        let e = Expr::Case {
            operand: Some(Box::new(Expr::Column(keys.len() - 1))),
            whens,
            otherwise: None,
        };
        Ok((e, DataType::Int4))
    }

    /// `f(…) OVER (…)`: a call of the query's window stage.
    fn bind_window(
        &mut self,
        call: AggregateCall,
        over: &ast::WindowType,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        if self.in_window {
            return Err(Error::new(
                sqlstate::WINDOWING_ERROR,
                "window function calls cannot be nested",
            ));
        }
        if self.windows.is_none() {
            let clause = match ctx {
                Ctx::Row { clause } => *clause,
                Ctx::Grouped { .. } => "HAVING",
            };
            return Err(Error::new(
                sqlstate::WINDOWING_ERROR,
                format!("window functions are not allowed in {clause}"),
            ));
        }
        let spec = match over {
            ast::WindowType::NamedWindow(name) => self.named_window(&ident_name(name))?,
            ast::WindowType::WindowSpec(spec) => self.window_spec(spec)?,
        };
        self.in_window = true;
        let bound = self.window_call(call, &spec, scope, ctx);
        self.in_window = false;
        let (window, t) = bound?;
        let calls = self.windows.as_mut().expect("checked above");
        calls.push(window);
        Ok((Expr::Column(WINDOW_COLUMN + calls.len() - 1), t))
    }

    /// A window of the query's WINDOW clause, by name.
    fn named_window(&self, name: &str) -> Result<ast::WindowSpec> {
        self.named_windows
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, spec)| spec.clone())
            .ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("window \"{name}\" does not exist"),
                )
            })
    }

    /// A window written as `(base …)` on top of a named one: the base's
    /// PARTITION BY and ORDER BY, with what this one adds (as PostgreSQL
    /// allows: an ORDER BY when the base has none, a frame when the base
    /// has none).
    fn window_spec(&self, spec: &ast::WindowSpec) -> Result<ast::WindowSpec> {
        let Some(base_name) = &spec.window_name else {
            return Ok(spec.clone());
        };
        let name = ident_name(base_name);
        let base = self.named_window(&name)?;
        let refuse = |what: &str| {
            Err(Error::new(
                sqlstate::WINDOWING_ERROR,
                format!("{what} of window \"{name}\""),
            ))
        };
        if !spec.partition_by.is_empty() {
            return refuse("cannot override PARTITION BY clause");
        }
        if !spec.order_by.is_empty() && !base.order_by.is_empty() {
            return refuse("cannot override ORDER BY clause");
        }
        if base.window_frame.is_some() {
            return Err(Error::new(
                sqlstate::WINDOWING_ERROR,
                format!("cannot copy window \"{name}\" because it has a frame clause"),
            )
            .with_hint("Omit the parentheses in this OVER clause."));
        }
        let mut merged = base;
        merged.window_name = None;
        if !spec.order_by.is_empty() {
            merged.order_by = spec.order_by.clone();
        }
        merged.window_frame = spec.window_frame.clone();
        Ok(merged)
    }

    fn window_call(
        &mut self,
        call: AggregateCall,
        spec: &ast::WindowSpec,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(WindowCall, DataType)> {
        let mut partition_by = Vec::new();
        for e in &spec.partition_by {
            partition_by.push(self.bind_expr(e, scope, ctx)?.0);
        }
        let mut order_by = Vec::new();
        let mut order_types = Vec::new();
        for o in &spec.order_by {
            let (e, t) = self.bind_expr(&o.expr, scope, ctx)?;
            let descending = o.options.asc == Some(false);
            order_by.push((e, descending, o.options.nulls_first.unwrap_or(descending)));
            order_types.push(t);
        }
        let frame = self.window_frame(spec.window_frame.as_ref(), &order_types)?;
        let name = call.name;
        let plain = !call.distinct && !call.star && call.filter.is_none();
        let arity = |n: std::ops::RangeInclusive<usize>| plain && n.contains(&call.args.len());
        let (func, result) = match name {
            "row_number" if arity(0..=0) => (WindowFunc::RowNumber, DataType::Int8),
            "rank" if arity(0..=0) => (WindowFunc::Rank, DataType::Int8),
            "dense_rank" if arity(0..=0) => (WindowFunc::DenseRank, DataType::Int8),
            "percent_rank" if arity(0..=0) => (WindowFunc::PercentRank, DataType::Float8),
            "cume_dist" if arity(0..=0) => (WindowFunc::CumeDist, DataType::Float8),
            "ntile" if arity(1..=1) => (WindowFunc::Ntile, DataType::Int4),
            "lag" if arity(1..=3) => (WindowFunc::Lag, DataType::Unknown),
            "lead" if arity(1..=3) => (WindowFunc::Lead, DataType::Unknown),
            "first_value" if arity(1..=1) => (WindowFunc::FirstValue, DataType::Unknown),
            "last_value" if arity(1..=1) => (WindowFunc::LastValue, DataType::Unknown),
            "nth_value" if arity(2..=2) => (WindowFunc::NthValue, DataType::Unknown),
            n if is_ordered_set_name(n) && !call.within_group.is_empty() => {
                return Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    format!("OVER is not supported for ordered-set aggregate {n}"),
                ));
            }
            _ if call.distinct && is_aggregate_name(name) => {
                return Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "DISTINCT is not implemented for window functions",
                ));
            }
            _ if !call.order_by.is_empty() && is_aggregate_name(name) => {
                return Err(Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "aggregate ORDER BY is not implemented for window functions",
                ));
            }
            n if is_aggregate_name(n) => {
                let agg = self.agg_call(call, scope, ctx)?;
                let t = agg.result_type;
                let window = WindowCall {
                    func: WindowFunc::Aggregate(Box::new(agg)),
                    args: vec![],
                    partition_by,
                    order_by,
                    frame,
                };
                return Ok((window, t));
            }
            "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" | "ntile"
            | "lag" | "lead" | "first_value" | "last_value" | "nth_value" => {
                return Err(self.no_function(name, call.args, scope, ctx)?)
            }
            _ => {
                return Err(Error::new(
                    sqlstate::WRONG_OBJECT_TYPE,
                    format!(
                    "OVER specified, but {name} is not a window function nor an aggregate function"
                ),
                ))
            }
        };
        // Arguments: the value (its type is the result's), then integers,
        // then lag/lead's default in the value's type.
        let mut args = Vec::new();
        let mut value_type = result;
        for (k, a) in call.args.iter().enumerate() {
            let integer = matches!(func, WindowFunc::Ntile) || (k == 1);
            if integer {
                let (e, t) = self.bind_expr_hint(a, scope, ctx, Some(DataType::Int4))?;
                if !t.is_integer() && t != DataType::Unknown {
                    return Err(self.no_function(name, call.args, scope, ctx)?);
                }
                args.push(self.coerce(e, t, DataType::Int4)?);
            } else if k == 0 {
                let (e, t) = self.bind_expr(a, scope, ctx)?;
                value_type = if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                };
                args.push(self.coerce(e, t, value_type)?);
            } else {
                let (e, t) = self.bind_expr_hint(a, scope, ctx, Some(value_type))?;
                let common = DataType::common_type(value_type, t)
                    .ok_or_else(|| operator_missing(name, Some(value_type), t))?;
                if common != value_type.unconstrained() && common != value_type {
                    return Err(self.no_function(name, call.args, scope, ctx)?);
                }
                args.push(self.coerce(e, t, value_type)?);
            }
        }
        let window = WindowCall {
            func,
            args,
            partition_by,
            order_by,
            frame,
        };
        Ok((window, value_type))
    }

    /// A window's frame clause, checked as PostgreSQL checks it.
    fn window_frame(
        &mut self,
        frame: Option<&ast::WindowFrame>,
        order_types: &[DataType],
    ) -> Result<Frame> {
        let Some(f) = frame else {
            return Ok(Frame {
                units: FrameUnits::Range,
                start: FrameBound::UnboundedPreceding,
                end: FrameBound::CurrentRow,
            });
        };
        let units = match f.units {
            ast::WindowFrameUnits::Rows => FrameUnits::Rows,
            ast::WindowFrameUnits::Range => FrameUnits::Range,
            ast::WindowFrameUnits::Groups => FrameUnits::Groups,
        };
        let error = |m: &str| Err(Error::new(sqlstate::WINDOWING_ERROR, m.to_string()));
        if units == FrameUnits::Groups && order_types.is_empty() {
            return error("GROUPS mode requires an ORDER BY clause");
        }
        let mut offset = |b: &Option<Box<ast::Expr>>| -> Result<Option<Expr>> {
            let Some(e) = b else { return Ok(None) };
            let empty = Scope::default();
            let ctx = &mut Ctx::Row {
                clause: "window definition",
            };
            let want = match units {
                FrameUnits::Range => {
                    let [key] = order_types else {
                        return Err(Error::new(
                            sqlstate::WINDOWING_ERROR,
                            "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
                        ));
                    };
                    if is_temporal(*key) {
                        DataType::Interval(None)
                    } else if key.is_numeric_family() {
                        key.unconstrained()
                    } else {
                        return Err(Error::unsupported(format!(
                            "RANGE with offset PRECEDING/FOLLOWING for column type {key}"
                        )));
                    }
                }
                _ => DataType::Int8,
            };
            let (x, t) = self.bind_expr_hint(e, &empty, ctx, Some(want))?;
            Ok(Some(self.coerce(x, t, want)?))
        };
        let start = match &f.start_bound {
            ast::WindowFrameBound::CurrentRow => FrameBound::CurrentRow,
            ast::WindowFrameBound::Preceding(b) => match offset(b)? {
                None => FrameBound::UnboundedPreceding,
                Some(e) => FrameBound::Preceding(e),
            },
            ast::WindowFrameBound::Following(b) => match offset(b)? {
                None => return error("frame start cannot be UNBOUNDED FOLLOWING"),
                Some(e) => FrameBound::Following(e),
            },
        };
        let end = match &f.end_bound {
            None | Some(ast::WindowFrameBound::CurrentRow) => FrameBound::CurrentRow,
            Some(ast::WindowFrameBound::Preceding(b)) => match offset(b)? {
                None => return error("frame end cannot be UNBOUNDED PRECEDING"),
                Some(e) => FrameBound::Preceding(e),
            },
            Some(ast::WindowFrameBound::Following(b)) => match offset(b)? {
                None => FrameBound::UnboundedFollowing,
                Some(e) => FrameBound::Following(e),
            },
        };
        match (&start, &end) {
            (FrameBound::CurrentRow, FrameBound::Preceding(_)) => {
                error("frame starting from current row cannot have preceding rows")
            }
            (FrameBound::Following(_), FrameBound::Preceding(_) | FrameBound::CurrentRow) => {
                error("frame starting from following row cannot have preceding rows")
            }
            _ => Ok(Frame { units, start, end }),
        }
    }

    /// The error for WITHIN GROUP on a function that is not an
    /// ordered-set aggregate. PostgreSQL looks the function up with the
    /// WITHIN GROUP values as extra arguments: a plain aggregate of that
    /// signature is the wrong kind; anything else does not exist.
    fn misplaced_within_group(
        &mut self,
        name: &str,
        args: &[ast::Expr],
        star: bool,
        f: &ast::Function,
        scope: &Scope,
    ) -> Error {
        let one_argument = !matches!(name, "string_agg" | "json_object_agg" | "jsonb_object_agg")
            && crate::plan::Regression::named(name).is_none();
        if is_aggregate_name(name)
            && (args.is_empty() || star)
            && f.within_group.len() == 1
            && one_argument
        {
            return Error::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!("{name} is not an ordered-set aggregate, so it cannot have WITHIN GROUP"),
            );
        }
        let ctx = &mut Ctx::Row {
            clause: "aggregate function calls",
        };
        let mut types = Vec::new();
        let exprs = args.iter().chain(f.within_group.iter().map(|o| &o.expr));
        for e in exprs {
            match self.bind_expr(e, scope, ctx) {
                Ok((_, t)) => types.push(t.to_string()),
                Err(e) => return e,
            }
        }
        no_such_function(&format!("{name}({})", types.join(", ")))
    }

    /// `percentile_cont(f)`, `percentile_disc(f)` or `mode()` `WITHIN
    /// GROUP (ORDER BY value)`: the value is the aggregated argument and
    /// its sort key; the fraction is evaluated once per group.
    fn ordered_set_call(
        &mut self,
        name: &str,
        direct: &[ast::Expr],
        within_group: &[ast::OrderByExpr],
        scope: &Scope,
        inner: &mut Ctx,
    ) -> Result<OrderedSetCall> {
        let mut direct_bound = Vec::new();
        for a in direct {
            direct_bound.push(self.bind_expr_hint(a, scope, inner, Some(DataType::Float8))?);
        }
        let mut within_bound = Vec::new();
        for o in within_group {
            within_bound.push(self.bind_expr(&o.expr, scope, inner)?);
        }
        let types: Vec<String> = direct_bound
            .iter()
            .chain(&within_bound)
            .map(|(_, t)| t.to_string())
            .collect();
        let missing = || no_such_function(&format!("{name}({})", types.join(", ")));
        let direct_count = if name == "mode" { 0 } else { 1 };
        if within_group.len() != 1 || direct.len() != direct_count {
            return Err(missing());
        }
        let (value, value_type) = within_bound.pop().ok_or_else(missing)?;
        let value_type = match value_type {
            DataType::Unknown => DataType::Text,
            t => t,
        };
        let direct_arg = match direct_bound.pop() {
            None => None,
            Some((_, DataType::Array(_))) => {
                return Err(Error::unsupported(format!(
                    "{name} with an array of fractions"
                )))
            }
            Some((e, t)) if t.is_numeric_family() || t == DataType::Unknown => {
                let mut uses_columns = false;
                e.for_each_column(&mut |_| uses_columns = true);
                if uses_columns {
                    return Err(Error::unsupported(format!(
                        "a direct argument of {name} that reads columns"
                    )));
                }
                Some(self.coerce(e, t, DataType::Float8)?)
            }
            Some(_) => return Err(missing()),
        };
        let (func, sort_type) = match name {
            "percentile_cont" => match value_type {
                t if t.is_numeric_family() => (AggFunc::PercentileCont, DataType::Float8),
                DataType::Interval(_) => (AggFunc::PercentileCont, DataType::Interval(None)),
                _ => return Err(missing()),
            },
            "percentile_disc" => (AggFunc::PercentileDisc, value_type),
            _ => (AggFunc::Mode, value_type),
        };
        if sort_type == DataType::Json {
            return Err(Error::new(
                sqlstate::UNDEFINED_FUNCTION,
                "could not identify an ordering operator for type json",
            )
            .with_hint("Use an explicit ordering operator or modify the query."));
        }
        let value = self.coerce(value, value_type, sort_type)?;
        let o = &within_group[0];
        let descending = o.options.asc == Some(false);
        let nulls_first = o.options.nulls_first.unwrap_or(descending);
        Ok(OrderedSetCall {
            func,
            order_by: vec![(value.clone(), descending, nulls_first)],
            value,
            value_type: sort_type,
            direct_arg,
            result_type: sort_type,
        })
    }

    /// An aggregate call with its arguments (and FILTER) bound in `inner`.
    fn agg_call(&mut self, call: AggregateCall, scope: &Scope, inner: &mut Ctx) -> Result<AggCall> {
        let AggregateCall {
            name,
            args,
            distinct,
            star,
            filter,
            order_by: order_items,
            within_group,
        } = call;
        let filter = match filter {
            Some(f) => {
                let (e, t) = self.bind_expr(f, scope, inner)?;
                Some(self.expect_bool(e, t, "FILTER")?)
            }
            None => None,
        };
        let mut second_arg = None;
        let mut order_by = Vec::new();
        let mut direct_arg = None;
        let mut ordered_set_result = None;
        let (func, arg, arg_type) = match (name, star, args) {
            (_, false, _) if is_ordered_set_name(name) => {
                let bound = self.ordered_set_call(name, args, within_group, scope, inner)?;
                order_by = bound.order_by;
                direct_arg = bound.direct_arg;
                ordered_set_result = Some(bound.result_type);
                (bound.func, Some(bound.value), bound.value_type)
            }
            ("count", true, []) => (AggFunc::CountStar, None, DataType::Int8),
            (
                "stddev" | "stddev_samp" | "stddev_pop" | "variance" | "var_samp" | "var_pop",
                false,
                [a],
            ) => {
                let (e, bound_type) =
                    self.bind_expr_hint(a, scope, inner, Some(DataType::Float8))?;
                let t = match bound_type {
                    // PostgreSQL resolves an unknown literal to the numeric
                    // category's preferred type.
                    DataType::Unknown => DataType::Float8,
                    DataType::Float4 | DataType::Float8 => bound_type,
                    DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Numeric(_) => {
                        bound_type
                    }
                    other => return Err(no_such_function(&format!("{name}({other})"))),
                };
                let func = AggFunc::Variance {
                    population: name.ends_with("_pop"),
                    root: name.starts_with("stddev"),
                };
                (func, Some(self.coerce(e, bound_type, t)?), t)
            }
            ("array_agg", false, [a]) => {
                let (e, t) = self.bind_expr(a, scope, inner)?;
                let t = if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                };
                if matches!(t, DataType::Array(_)) {
                    return Err(Error::unsupported(
                        "array_agg of arrays (multidimensional arrays)",
                    ));
                }
                if Elem::of(t).is_none() {
                    return Err(Error::unsupported(format!("array_agg of type {t}")));
                }
                (AggFunc::ArrayAgg, Some(self.coerce(e, t, t)?), t)
            }
            ("json_agg" | "jsonb_agg", false, [a]) => {
                let binary = name == "jsonb_agg";
                let (e, t) = match self.bind_whole_row(a, scope, inner, binary)? {
                    Some(row) => row,
                    None => self.bind_expr(a, scope, inner)?,
                };
                let t = if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                };
                let func = AggFunc::JsonAgg {
                    binary: name == "jsonb_agg",
                };
                (func, Some(self.coerce(e, t, t)?), t)
            }
            ("json_object_agg" | "jsonb_object_agg", false, [k, v]) => {
                if distinct {
                    return Err(Error::unsupported(format!("{name}(DISTINCT …)")));
                }
                let (ke, kt) = self.bind_expr(k, scope, inner)?;
                let (ve, vt) = self.bind_expr(v, scope, inner)?;
                let text_if_unknown = |t: DataType| match t {
                    DataType::Unknown => DataType::Text,
                    t => t,
                };
                let (kt, vt) = (text_if_unknown(kt), text_if_unknown(vt));
                if matches!(kt, DataType::Array(_)) || matches!(vt, DataType::Array(_)) {
                    return Err(Error::unsupported(format!("{name} of arrays")));
                }
                second_arg = Some(self.coerce(ve, vt, vt)?);
                let func = AggFunc::JsonObjectAgg {
                    binary: name == "jsonb_object_agg",
                };
                (func, Some(self.coerce(ke, kt, kt)?), kt)
            }
            ("string_agg", false, [a, d]) => {
                let (e, t) = self.bind_expr_hint(a, scope, inner, Some(DataType::Text))?;
                let (de, dt) = self.bind_expr_hint(d, scope, inner, Some(DataType::Text))?;
                if !t.is_string() && t != DataType::Unknown {
                    return Err(no_such_function(&format!("string_agg({t}, {dt})")));
                }
                second_arg = Some(self.coerce(de, dt, DataType::Text)?);
                (
                    AggFunc::StringAgg,
                    Some(self.coerce(e, t, DataType::Text)?),
                    DataType::Text,
                )
            }
            ("bool_and" | "bool_or" | "every", false, [a]) => {
                let (e, t) = self.bind_expr_hint(a, scope, inner, Some(DataType::Bool))?;
                if t != DataType::Bool && t != DataType::Unknown {
                    return Err(no_such_function(&format!("{name}({t})")));
                }
                let func = match name {
                    "bool_or" => AggFunc::BoolOr,
                    _ => AggFunc::BoolAnd,
                };
                (
                    func,
                    Some(self.coerce(e, t, DataType::Bool)?),
                    DataType::Bool,
                )
            }
            ("bit_and" | "bit_or" | "bit_xor", false, [a]) => {
                let (e, t) = self.bind_expr(a, scope, inner)?;
                match t {
                    DataType::Int2 | DataType::Int4 | DataType::Int8 => {}
                    // Also bit(n), which Tessera does not have.
                    DataType::Unknown => {
                        return Err(Error::new(
                            sqlstate::AMBIGUOUS_FUNCTION,
                            format!("function {name}(unknown) is not unique"),
                        )
                        .with_hint("Could not choose a best candidate function. You might need to add explicit type casts."))
                    }
                    other => return Err(no_such_function(&format!("{name}({other})"))),
                }
                let func = match name {
                    "bit_and" => AggFunc::BitAnd,
                    "bit_or" => AggFunc::BitOr,
                    _ => AggFunc::BitXor,
                };
                (func, Some(self.coerce(e, t, t)?), t)
            }
            (_, false, [y, x]) if crate::plan::Regression::named(name).is_some() => {
                let f = crate::plan::Regression::named(name).ok_or_else(|| {
                    Error::internal(format!("{name} is not a regression aggregate"))
                })?;
                let (ye, yt) = self.bind_expr_hint(y, scope, inner, Some(DataType::Float8))?;
                let (xe, xt) = self.bind_expr_hint(x, scope, inner, Some(DataType::Float8))?;
                let takes = |t: DataType| t.is_numeric_family() || t == DataType::Unknown;
                if !takes(yt) || !takes(xt) {
                    return Err(no_such_function(&format!("{name}({yt}, {xt})")));
                }
                second_arg = Some(self.coerce(xe, xt, DataType::Float8)?);
                (
                    AggFunc::Regression(f),
                    Some(self.coerce(ye, yt, DataType::Float8)?),
                    DataType::Float8,
                )
            }
            (_, _, args)
                if crate::plan::Regression::named(name).is_some()
                    || matches!(name, "bit_and" | "bit_or" | "bit_xor") =>
            {
                let mut types = Vec::with_capacity(args.len());
                for a in args {
                    types.push(self.bind_expr(a, scope, inner)?.1.to_string());
                }
                return Err(no_such_function(&format!("{name}({})", types.join(", "))));
            }
            ("count" | "sum" | "min" | "max" | "avg", false, [a]) => {
                let (e, t) = self.bind_expr(a, scope, inner)?;
                let t = if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                };
                let func = match name {
                    "count" => AggFunc::Count,
                    "sum" => AggFunc::Sum,
                    "min" => AggFunc::Min,
                    "max" => AggFunc::Max,
                    _ => AggFunc::Avg,
                };
                let summable = t.is_numeric_family() || matches!(t, DataType::Interval(_));
                // PostgreSQL 15 has no min/max over these.
                let unordered = matches!(
                    t,
                    DataType::Bool
                        | DataType::Uuid
                        | DataType::Bytea
                        | DataType::Json
                        | DataType::Jsonb
                );
                if (matches!(func, AggFunc::Sum | AggFunc::Avg) && !summable)
                    || (matches!(func, AggFunc::Min | AggFunc::Max) && unordered)
                {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_FUNCTION,
                        format!("function {name}({t}) does not exist"),
                    ));
                }
                (func, Some(self.coerce(e, t, t)?), t)
            }
            _ => {
                return Err(Error::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("function {name} with these arguments does not exist"),
                ))
            }
        };
        let result_type = match func {
            AggFunc::CountStar | AggFunc::Count => DataType::Int8,
            AggFunc::BoolAnd | AggFunc::BoolOr => DataType::Bool,
            AggFunc::BitAnd | AggFunc::BitOr | AggFunc::BitXor => arg_type,
            AggFunc::Regression(crate::plan::Regression::Count) => DataType::Int8,
            AggFunc::Regression(_) => DataType::Float8,
            AggFunc::StringAgg => DataType::Text,
            AggFunc::Min | AggFunc::Max => arg_type,
            AggFunc::Variance { .. } if arg_type.is_float() => DataType::Float8,
            AggFunc::Variance { .. } => DataType::Numeric(None),
            AggFunc::ArrayAgg => match Elem::of(arg_type) {
                Some(elem) => DataType::Array(elem),
                None => return Err(Error::unsupported(format!("array_agg of type {arg_type}"))),
            },
            AggFunc::JsonAgg { binary: false } | AggFunc::JsonObjectAgg { binary: false } => {
                DataType::Json
            }
            AggFunc::JsonAgg { binary: true } | AggFunc::JsonObjectAgg { binary: true } => {
                DataType::Jsonb
            }
            AggFunc::PercentileCont | AggFunc::PercentileDisc | AggFunc::Mode => {
                ordered_set_result.unwrap_or(arg_type)
            }
            AggFunc::Sum => match arg_type {
                DataType::Int2 | DataType::Int4 => DataType::Int8,
                DataType::Int8 | DataType::Numeric(_) => DataType::Numeric(None),
                other => other,
            },
            AggFunc::Avg => {
                if arg_type.is_float() {
                    DataType::Float8
                } else if let DataType::Interval(_) = arg_type {
                    DataType::Interval(None)
                } else {
                    DataType::Numeric(None)
                }
            }
        };
        if !order_items.is_empty() {
            for o in order_items {
                let (e, _) = self.bind_expr(&o.expr, scope, inner)?;
                if distinct && arg.as_ref() != Some(&e) {
                    return Err(Error::new(
                        sqlstate::INVALID_COLUMN_REFERENCE,
                        "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list",
                    ));
                }
                let descending = o.options.asc == Some(false);
                order_by.push((e, descending, o.options.nulls_first.unwrap_or(descending)));
            }
            // Only what collects its inputs depends on their order.
            if !func.collects() && func != AggFunc::StringAgg {
                order_by.clear();
            }
        }
        Ok(AggCall {
            func,
            arg,
            second_arg,
            order_by,
            direct_arg,
            distinct: distinct && func != AggFunc::CountStar,
            filter,
            arg_type,
            result_type,
        })
    }

    // ---- SELECT ---------------------------------------------------------

    fn bind_query(&mut self, q: &ast::Query) -> Result<(SelectPlan, Vec<ColumnDesc>)> {
        let Some(with) = &q.with else {
            return self.bind_query_body(q);
        };
        let before = self.ctes.len();
        let bound = self
            .bind_with(with, false)
            .and_then(|_| self.bind_query_body(q));
        self.ctes.truncate(before);
        bound
    }

    /// The queries of a WITH clause, each visible to the ones after it
    /// (and, with RECURSIVE, to itself). Data-modifying ones (INSERT,
    /// UPDATE, DELETE) only in the statement's own WITH (`top`): each is
    /// an init plan, run once before the statement, whose RETURNING rows
    /// the references read.
    fn bind_with(&mut self, with: &ast::With, top: bool) -> Result<()> {
        for cte in &with.cte_tables {
            if cte.from.is_some() {
                return Err(Error::unsupported(format!("the WITH query {cte}")));
            }
            let name = ident_name(&cte.alias.name);
            let same = |c: &&ast::Cte| ident_name(&c.alias.name) == name;
            if with.cte_tables.iter().filter(same).count() > 1 {
                return Err(Error::new(
                    sqlstate::DUPLICATE_ALIAS,
                    format!("WITH query name \"{name}\" specified more than once"),
                ));
            }
            if let ast::SetExpr::Insert(dml)
            | ast::SetExpr::Update(dml)
            | ast::SetExpr::Delete(dml) = &*cte.query.body
            {
                if !top {
                    return Err(Error::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        "WITH clause containing a data-modifying statement must be at the top level",
                    ));
                }
                self.bind_modifying_cte(name, &cte.alias, dml)?;
                continue;
            }
            let (plan, descs) = match (with.recursive, &*cte.query.body) {
                (
                    true,
                    ast::SetExpr::SetOperation {
                        op: ast::SetOperator::Union,
                        set_quantifier,
                        left,
                        right,
                    },
                ) if cte.query.order_by.is_none()
                    && cte.query.limit_clause.is_none()
                    && names_relation(right, &name) =>
                {
                    let all = match set_quantifier {
                        ast::SetQuantifier::All => true,
                        ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
                        other => return Err(Error::unsupported(format!("UNION {other}"))),
                    };
                    self.bind_recursive(&name, &cte.alias, all, left, right)?
                }
                _ => self.bind_query(&cte.query)?,
            };
            let columns = alias_columns(&cte.alias, &descs)?;
            self.ctes.push(CteDef {
                name,
                columns,
                body: CteBody::Plan(Box::new(plan)),
                depth: self.outer.len(),
            });
        }
        Ok(())
    }

    /// A data-modifying WITH query: an init plan (see [`Binder::bind_with`]);
    /// the tables it writes are remembered for
    /// [`Binder::check_modified_unread`].
    fn bind_modifying_cte(
        &mut self,
        name: String,
        alias: &ast::TableAlias,
        dml: &ast::Statement,
    ) -> Result<()> {
        let before = self.referenced.len();
        let (plan, descs, returns) = self.bind_dml(dml)?;
        let own: Vec<tessera_types::TableId> = self.referenced.drain(before..).collect();
        let target = match &plan {
            Plan::Insert(i) => i.table.id,
            Plan::Update(u) => u.table.id,
            Plan::Delete(d) => d.table.id,
            _ => {
                return Err(Error::internal(
                    "a data-modifying WITH query of another kind",
                ))
            }
        };
        self.modifying.push((target, own));
        let id = self.init.len();
        self.init.push(InitPlan {
            plan: Arc::new(plan),
            place: None,
            dropped: false,
        });
        let body = match returns {
            true => CteBody::Plan(Box::new(SelectPlan {
                source: Some(Source::Init(id)),
                ..SelectPlan::rows(Target::NoTable, identity_fragment(descs.len()))
            })),
            false => CteBody::NoReturning,
        };
        let columns = alias_columns(alias, &descs)?;
        self.ctes.push(CteDef {
            name,
            columns,
            body,
            depth: self.outer.len(),
        });
        Ok(())
    }

    /// A table a data-modifying WITH query writes may be read only through
    /// its RETURNING: PostgreSQL runs all parts of the statement on one
    /// snapshot, so no part sees another's changes, while here the other
    /// parts would run after it and see them. 0A000 rather than a
    /// different answer.
    fn check_modified_unread(&self) -> Result<()> {
        for (i, (table, _)) in self.modifying.iter().enumerate() {
            let elsewhere = self.referenced.contains(table)
                || self
                    .modifying
                    .iter()
                    .enumerate()
                    .any(|(j, (t, reads))| j != i && (t == table || reads.contains(table)));
            if elsewhere {
                let name = self
                    .catalog
                    .table_by_id(*table)
                    .map_or_else(|| table.to_string(), |t| t.name.clone());
                return Err(Error::unsupported(format!(
                    "a statement that reads or writes table \"{name}\" besides a WITH query that changes it"
                )));
            }
        }
        Ok(())
    }

    /// `name AS (start UNION [ALL] step)` where `step` reads `name`: the
    /// step runs over the rows the last round added (the work table)
    /// until it adds none.
    fn bind_recursive(
        &mut self,
        name: &str,
        alias: &ast::TableAlias,
        all: bool,
        start: &ast::SetExpr,
        step: &ast::SetExpr,
    ) -> Result<(SelectPlan, Vec<ColumnDesc>)> {
        let (start, descs) = self.bind_set_expr(start)?;
        let work = self.work_tables;
        self.work_tables += 1;
        self.ctes.push(CteDef {
            name: name.to_string(),
            columns: alias_columns(alias, &descs)?,
            body: CteBody::Work(work),
            depth: self.outer.len(),
        });
        let bound = self.bind_set_expr(step);
        self.ctes.pop();
        let (step, step_descs) = bound?;
        if step_descs.len() != descs.len() {
            return Err(Error::syntax(
                "each UNION query must have the same number of columns",
            ));
        }
        let mut casts = Vec::new();
        for (i, (d, s)) in descs.iter().zip(&step_descs).enumerate() {
            if DataType::common_type(d.data_type, s.data_type) != Some(d.data_type) {
                return Err(Error::datatype_mismatch(format!(
                    "recursive query \"{name}\" column {} has type {} in non-recursive term but type {} overall",
                    i + 1,
                    d.data_type,
                    s.data_type
                ))
                .with_hint("Cast the output of the non-recursive term to the correct type."));
            }
            casts.push(needs_cast(s.data_type, d.data_type).then_some(d.data_type));
        }
        let recursive = Recursive {
            work,
            all,
            start,
            step,
            casts,
        };
        let width = descs.len();
        let plan = SelectPlan {
            source: Some(Source::Recursive(Box::new(recursive))),
            ..SelectPlan::rows(Target::NoTable, identity_fragment(width))
        };
        Ok((plan, descs))
    }

    /// A WITH query a FROM item names: the innermost of that name.
    /// The name of the relation a FROM item names, when it is a plain
    /// name (not a function call) that no WITH query of the name hides.
    fn relation_name<'r>(&self, relation: &'r ast::TableFactor) -> Option<&'r ast::ObjectName> {
        let ast::TableFactor::Table {
            name, args: None, ..
        } = relation
        else {
            return None;
        };
        self.cte_of(relation).is_none().then_some(name)
    }

    fn cte_of(&self, relation: &ast::TableFactor) -> Option<&CteDef> {
        let ast::TableFactor::Table {
            name, args: None, ..
        } = relation
        else {
            return None;
        };
        let [ast::ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return None;
        };
        let wanted = ident_name(ident);
        self.ctes.iter().rev().find(|c| c.name == wanted)
    }

    fn bind_query_body(&mut self, q: &ast::Query) -> Result<(SelectPlan, Vec<ColumnDesc>)> {
        if !q.locks.is_empty() {
            return Err(Error::unsupported("FOR UPDATE/SHARE"));
        }
        let order_items: Vec<ast::OrderByExpr> = match &q.order_by {
            None => vec![],
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(e) => e.clone(),
                ast::OrderByKind::All(_) => return Err(Error::unsupported("ORDER BY ALL")),
            },
        };
        let limits = self.bind_limit(q)?;
        match &*q.body {
            ast::SetExpr::Select(s) => self.bind_select(s, &order_items, limits),
            body => self.bind_set_query(body, &order_items, limits),
        }
    }

    /// A query whose body is UNION/INTERSECT/EXCEPT, VALUES or a query in
    /// parentheses: its rows are a `Source`, which the query's ORDER BY
    /// (by result column) and LIMIT take.
    fn bind_set_query(
        &mut self,
        body: &ast::SetExpr,
        order_items: &[ast::OrderByExpr],
        (limit, offset): (Option<Expr>, Option<Expr>),
    ) -> Result<(SelectPlan, Vec<ColumnDesc>)> {
        let (mut source, descs) = self.bind_set_expr(body)?;
        if source.uses_outer() {
            self.gather_once(&mut source);
        }
        let width = descs.len();
        let items: Vec<(ast::Expr, String)> = descs
            .iter()
            .map(|d| (ast::Expr::Identifier(quoted(&d.name)), d.name.clone()))
            .collect();
        let mut outputs: Vec<(Expr, DataType)> = descs
            .iter()
            .enumerate()
            .map(|(i, d)| (Expr::Column(i), d.data_type))
            .collect();
        let order_by = self.bind_order_by(order_items, &items, false, &mut outputs, |_, e| {
            Err(match e {
                ast::Expr::Identifier(i) => undefined_column(None, &ident_name(i)),
                _ => Error::new(
                    sqlstate::FEATURE_NOT_SUPPORTED,
                    "invalid UNION/INTERSECT/EXCEPT ORDER BY clause",
                )
                .with_detail("Only result column names can be used, not expressions or functions.")
                .with_hint("Add the expression/function to every SELECT, or move the UNION into a FROM clause."),
            })
        })?;
        let plan = SelectPlan {
            source: Some(source),
            limit,
            offset,
            order_by,
            ..SelectPlan::rows(Target::NoTable, identity_fragment(width))
        };
        Ok((plan, descs))
    }

    /// The rows of a set operation's operand, and their columns.
    fn bind_set_expr(&mut self, body: &ast::SetExpr) -> Result<(Source, Vec<ColumnDesc>)> {
        let query = |plan: SelectPlan, width: usize| Source::Query {
            plan: Arc::new(Plan::Select(Box::new(plan))),
            offset: 0,
            width,
        };
        match body {
            ast::SetExpr::Select(s) => {
                let (plan, descs) = self.bind_select(s, &[], (None, None))?;
                Ok((query(plan, descs.len()), descs))
            }
            ast::SetExpr::Query(q) => {
                let (plan, descs) = self.bind_query(q)?;
                Ok((query(plan, descs.len()), descs))
            }
            ast::SetExpr::Values(v) => self.bind_values(v),
            ast::SetExpr::SetOperation {
                op,
                set_quantifier,
                left,
                right,
            } => {
                let (kind, name) = match op {
                    ast::SetOperator::Union => (SetOpKind::Union, "UNION"),
                    ast::SetOperator::Intersect => (SetOpKind::Intersect, "INTERSECT"),
                    ast::SetOperator::Except | ast::SetOperator::Minus => {
                        (SetOpKind::Except, "EXCEPT")
                    }
                };
                let all = match set_quantifier {
                    ast::SetQuantifier::All => true,
                    ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
                    other => return Err(Error::unsupported(format!("{name} {other}"))),
                };
                let (left, left_descs) = self.bind_set_expr(left)?;
                let (right, right_descs) = self.bind_set_expr(right)?;
                if left_descs.len() != right_descs.len() {
                    return Err(Error::syntax(format!(
                        "each {name} query must have the same number of columns"
                    )));
                }
                let mut casts = [Vec::new(), Vec::new()];
                let mut descs = Vec::new();
                for (l, r) in left_descs.into_iter().zip(right_descs) {
                    let t = DataType::common_type(l.data_type, r.data_type).ok_or_else(|| {
                        Error::datatype_mismatch(format!(
                            "{name} types {} and {} cannot be matched",
                            l.data_type, r.data_type
                        ))
                    })?;
                    let t = if t == DataType::Unknown {
                        DataType::Text
                    } else {
                        t
                    };
                    casts[0].push(needs_cast(l.data_type, t).then_some(t));
                    casts[1].push(needs_cast(r.data_type, t).then_some(t));
                    descs.push(ColumnDesc {
                        name: l.name,
                        data_type: t,
                        table_oid: 0,
                        column_id: 0,
                    });
                }
                let op = SetOp {
                    kind,
                    all,
                    left,
                    right,
                    casts,
                };
                Ok((Source::SetOp(Box::new(op)), descs))
            }
            other => Err(Error::unsupported(format!("the query {other}"))),
        }
    }

    /// `VALUES (…), (…)`: each column takes the common type of its values.
    fn bind_values(&mut self, v: &ast::Values) -> Result<(Source, Vec<ColumnDesc>)> {
        let width = v.rows.first().map_or(0, Vec::len);
        let scope = Scope::default();
        let mut types = vec![DataType::Unknown; width];
        let mut bound = Vec::with_capacity(v.rows.len());
        for row in &v.rows {
            if row.len() != width {
                return Err(Error::syntax("VALUES lists must all be the same length"));
            }
            let mut values = Vec::with_capacity(width);
            for (i, e) in row.iter().enumerate() {
                let hint = Some(types[i]).filter(|t| *t != DataType::Unknown);
                let (x, t) =
                    self.bind_expr_hint(e, &scope, &mut Ctx::Row { clause: "VALUES" }, hint)?;
                types[i] = DataType::common_type(types[i], t).ok_or_else(|| {
                    Error::datatype_mismatch(format!(
                        "VALUES types {} and {t} cannot be matched",
                        types[i]
                    ))
                })?;
                values.push((x, t));
            }
            bound.push(values);
        }
        for t in types.iter_mut() {
            if *t == DataType::Unknown {
                *t = DataType::Text;
            }
        }
        let mut rows = Vec::with_capacity(bound.len());
        for values in bound {
            let row = values
                .into_iter()
                .zip(&types)
                .map(|((x, t), to)| self.coerce(x, t, *to))
                .collect::<Result<Vec<Expr>>>()?;
            rows.push(row);
        }
        let descs = types
            .iter()
            .enumerate()
            .map(|(i, t)| ColumnDesc {
                name: format!("column{}", i + 1),
                data_type: *t,
                table_oid: 0,
                column_id: 0,
            })
            .collect();
        Ok((Source::Values(rows), descs))
    }

    /// A plain SELECT with the ORDER BY and (bound) LIMIT/OFFSET of the
    /// query it is the body of.
    fn bind_select(
        &mut self,
        select: &ast::Select,
        order_items: &[ast::OrderByExpr],
        (limit, offset): (Option<Expr>, Option<Expr>),
    ) -> Result<(SelectPlan, Vec<ColumnDesc>)> {
        if let Some((rewritten, order)) = srf_as_lateral(select, order_items)? {
            return self.bind_select(&rewritten, &order, (limit, offset));
        }
        let mut scope = self.bind_from(&select.from)?;
        let filter = match &select.selection {
            Some(w) => {
                let (f, t) = self.bind_expr(w, &scope, &mut Ctx::Row { clause: "WHERE" })?;
                if t != DataType::Bool && t != DataType::Unknown {
                    return Err(Error::datatype_mismatch(format!(
                        "argument of WHERE must be type boolean, not type {t}"
                    )));
                }
                Some(self.coerce(f, t, DataType::Bool)?)
            }
            None => None,
        };
        let (distinct, on) = match &select.distinct {
            None => (false, &[][..]),
            Some(ast::Distinct::Distinct) => (true, &[][..]),
            Some(ast::Distinct::On(on)) => (false, on.as_slice()),
        };
        // DISTINCT ON expressions bind as leading sort items, split off
        // after binding: the rows are sorted, then the first of each
        // distinct key kept.
        let sort_items: Vec<ast::OrderByExpr> = on
            .iter()
            .map(|e| ast::OrderByExpr {
                expr: e.clone(),
                options: ast::OrderByOptions {
                    asc: None,
                    nulls_first: None,
                },
                with_fill: None,
            })
            .chain(order_items.iter().cloned())
            .collect();
        let order_items = sort_items.as_slice();
        if select.top.is_some()
            || select.into.is_some()
            || !select.lateral_views.is_empty()
            || select.qualify.is_some()
        {
            return Err(Error::unsupported(format!("the query {select}")));
        }

        // The select list, with * expanded, and the client-visible names.
        let mut items: Vec<(ast::Expr, String)> = Vec::new();
        for item in &select.projection {
            match item {
                ast::SelectItem::UnnamedExpr(e) => items.push((e.clone(), column_name(e))),
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    items.push((expr.clone(), ident_name(alias)))
                }
                ast::SelectItem::Wildcard(_) if !scope.items.is_empty() => {
                    items.extend(scope.star.iter().cloned())
                }
                ast::SelectItem::QualifiedWildcard(kind, _) if !scope.items.is_empty() => {
                    items.extend(self.qualified_star(kind, &scope)?)
                }
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    let table = scope.table.as_ref().ok_or_else(|| {
                        Error::syntax("SELECT * with no tables specified is not valid")
                    })?;
                    for (_, c) in table.visible_columns() {
                        items.push((
                            ast::Expr::Identifier(ast::Ident::new(c.name.clone())),
                            c.name.clone(),
                        ));
                    }
                }
            }
        }
        // Quoted identifiers for expanded columns keep their exact names.
        let items: Vec<(ast::Expr, String)> = items
            .into_iter()
            .map(|(e, n)| match e {
                ast::Expr::Identifier(i)
                    if i.quote_style.is_none() && i.value != i.value.to_lowercase() =>
                {
                    (
                        ast::Expr::Identifier(ast::Ident::with_quote('"', i.value)),
                        n,
                    )
                }
                other => (other, n),
            })
            .collect();
        if let Some(stars) = self.stars.as_mut() {
            let starred = select.projection.iter().any(|i| {
                matches!(
                    i,
                    ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..)
                )
            });
            if starred {
                stars.push((select as *const ast::Select as usize, items.clone()));
            }
        }

        let group_by: Vec<ast::Expr> = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return Err(Error::unsupported("GROUP BY modifiers"));
                }
                exprs.clone()
            }
            ast::GroupByExpr::All(_) => return Err(Error::unsupported("GROUP BY ALL")),
        };
        let aggregated = !group_by.is_empty()
            || select.having.is_some()
            || items.iter().any(|(e, _)| contains_aggregate(e))
            || order_items.iter().any(|o| contains_aggregate(&o.expr));

        let windowed = items.iter().any(|(e, _)| contains_window(e))
            || order_items.iter().any(|o| contains_window(&o.expr));
        let enclosing_windows = self.windows.take();
        // The WINDOW clause, each definition over the ones before it.
        let mut named = Vec::new();
        std::mem::swap(&mut named, &mut self.named_windows);
        for ast::NamedWindowDefinition(name, def) in &select.named_window {
            let n = ident_name(name);
            if self.named_windows.iter().any(|(m, _)| *m == n) {
                return Err(Error::new(
                    sqlstate::WINDOWING_ERROR,
                    format!("window \"{n}\" is already defined"),
                ));
            }
            let spec = match def {
                ast::NamedWindowExpr::NamedWindow(other) => {
                    self.named_window(&ident_name(other))?
                }
                ast::NamedWindowExpr::WindowSpec(spec) => self.window_spec(spec)?,
            };
            self.named_windows.push((n, spec));
        }
        let enclosing_named = named;

        // Bind output expressions (and later sort keys) in the right context.
        let mut outputs: Vec<(Expr, DataType)> = Vec::new();
        let mut descs = Vec::new();
        let (fragment_output, aggregate, visible, order_by) = if aggregated {
            // Group keys: an ordinal or an output name refers to a select
            // item. With grouping sets, every expression any set names.
            let (set_asts, has_sets) = grouping_sets(&group_by);
            let mut key_asts: Vec<ast::Expr> = Vec::new();
            let mut sets = Vec::new();
            for set in &set_asts {
                let mut members = Vec::new();
                for g in set {
                    let g = resolve_group_ref(g, &items, &scope)?.unwrap_or_else(|| g.clone());
                    let text = g.to_string();
                    let i = match key_asts.iter().position(|k| k.to_string() == text) {
                        Some(i) => i,
                        None => {
                            key_asts.push(g);
                            key_asts.len() - 1
                        }
                    };
                    members.push(i);
                }
                sets.push(members);
            }
            let mut key_exprs = Vec::new();
            let mut keys = Vec::new();
            for g in &key_asts {
                let (e, t) = self.bind_expr(g, &scope, &mut Ctx::Row { clause: "GROUP BY" })?;
                key_exprs.push(e);
                keys.push((g.to_string(), t));
            }
            let group_by_exprs = key_exprs.clone();
            let sets: Vec<Vec<bool>> = match has_sets {
                false => vec![],
                true => sets
                    .iter()
                    .map(|m| (0..keys.len()).map(|i| m.contains(&i)).collect())
                    .collect(),
            };
            if has_sets {
                // The set's number: a key no expression is.
                keys.push(("grouping set".into(), DataType::Int4));
                key_exprs.push(Expr::Literal(Value::Null));
            }
            let mut aggs = Vec::new();
            self.windows = windowed.then(Vec::new);
            for (e, n) in &items {
                let (x, t) = self.bind_expr(
                    e,
                    &scope,
                    &mut Ctx::Grouped {
                        keys: &keys,
                        key_exprs: &key_exprs,
                        sets: &sets,
                        aggs: &mut aggs,
                    },
                )?;
                let t = if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                };
                descs.push(self.describe(e, n, t, &scope));
                outputs.push((x, t));
            }
            let windows = self.windows.take();
            let having = match &select.having {
                Some(h) => {
                    let (x, t) = self.bind_expr(
                        h,
                        &scope,
                        &mut Ctx::Grouped {
                            keys: &keys,
                            key_exprs: &key_exprs,
                            sets: &sets,
                            aggs: &mut aggs,
                        },
                    )?;
                    Some(self.expect_bool(x, t, "HAVING")?)
                }
                None => None,
            };
            self.windows = windows;
            let visible = outputs.len();
            let order_by =
                self.bind_order_by(order_items, &items, distinct, &mut outputs, |b, e| {
                    b.bind_expr(
                        e,
                        &scope,
                        &mut Ctx::Grouped {
                            keys: &keys,
                            key_exprs: &key_exprs,
                            sets: &sets,
                            aggs: &mut aggs,
                        },
                    )
                })?;
            let output: Vec<Expr> = outputs.iter().map(|(e, _)| e.clone()).collect();
            (
                FragmentOutput::PartialAggregate {
                    group_by: group_by_exprs,
                    aggs: aggs.clone(),
                    sets,
                },
                Some(AggregateFinal {
                    group_count: keys.len(),
                    aggs,
                    having,
                    output,
                }),
                visible,
                order_by,
            )
        } else {
            self.windows = windowed.then(Vec::new);
            for (e, n) in &items {
                let (x, t) = self.bind_expr(e, &scope, &mut Ctx::Row { clause: "SELECT" })?;
                let t = if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                };
                descs.push(self.describe(e, n, t, &scope));
                outputs.push((x, t));
            }
            let visible = outputs.len();
            let order_by =
                self.bind_order_by(order_items, &items, distinct, &mut outputs, |b, e| {
                    b.bind_expr(e, &scope, &mut Ctx::Row { clause: "ORDER BY" })
                })?;
            (
                FragmentOutput::Project(outputs.iter().map(|(e, _)| e.clone()).collect()),
                None,
                visible,
                order_by,
            )
        };
        // Window functions: the rows after grouping (or the FROM's whole
        // rows) go to a window stage, which computes the calls and then
        // the outputs over the rows widened by them.
        self.named_windows = enclosing_named;
        let (fragment_output, aggregate, window) =
            match std::mem::replace(&mut self.windows, enclosing_windows) {
                None => (fragment_output, aggregate, None),
                Some(calls) => {
                    let base = match &aggregate {
                        Some(a) => a.group_count + a.aggs.len(),
                        None if !scope.items.is_empty() => scope.width(0, scope.items.len()),
                        None => scope.table.as_ref().map_or(0, |t| t.columns.len()),
                    };
                    let place = |c: usize| match c.checked_sub(WINDOW_COLUMN) {
                        Some(n) => base + n,
                        None => c,
                    };
                    let identity: Vec<Expr> = (0..base).map(Expr::Column).collect();
                    let (fragment_output, aggregate, output) = match (aggregate, fragment_output) {
                        (Some(mut a), f) => {
                            let output = std::mem::replace(&mut a.output, identity);
                            (f, Some(a), output)
                        }
                        (None, FragmentOutput::Project(output)) => {
                            (FragmentOutput::Project(identity), None, output)
                        }
                        (None, f) => (f, None, vec![]),
                    };
                    let output = output.iter().map(|e| e.map_columns(&place)).collect();
                    (
                        fragment_output,
                        aggregate,
                        Some(WindowStage { calls, output }),
                    )
                }
            };
        // A correlated query runs for each outer row, over rows its stored
        // FROM items gathered once (init plans).
        let opt = |e: &Option<Expr>| e.as_ref().is_some_and(Expr::uses_outer);
        let correlated = opt(&filter)
            || opt(&limit)
            || opt(&offset)
            || match &fragment_output {
                FragmentOutput::Project(e) => e.iter().any(Expr::uses_outer),
                FragmentOutput::PartialAggregate { group_by, aggs, .. } => {
                    group_by.iter().any(Expr::uses_outer)
                        || aggs.iter().flat_map(AggCall::exprs).any(Expr::uses_outer)
                }
            }
            || aggregate
                .as_ref()
                .is_some_and(|a| opt(&a.having) || a.output.iter().any(Expr::uses_outer))
            || window.as_ref().is_some_and(WindowStage::uses_outer)
            || scope.items.iter().any(|it| match &it.input {
                Some(ItemInput::Query(p)) => p.uses_outer(),
                Some(ItemInput::Lateral(_, args)) => args.iter().any(Expr::uses_outer),
                _ => false,
            });
        // Not itself correlated (so run where the router is, once): its
        // correlated subqueries that compare an aggregate become grouped
        // FROM items, and its EXISTS conjuncts semi and anti joins.
        let (filter, semi) = match correlated {
            true => (filter, vec![]),
            false => {
                let filter = self.grouped_joins(filter, &mut scope);
                self.semi_joins(filter, &mut scope)
            }
        };
        let mut order_by = order_by;
        let distinct_on: Vec<usize> = order_by.drain(..on.len()).map(|k| k.column).collect();
        check_distinct_on(&distinct_on, &order_by)?;
        let one_place = matches!(&fragment_output,
            FragmentOutput::PartialAggregate { aggs, .. } if aggs.iter().any(AggCall::needs_one_place));
        // Several FROM items: joined on the router, which runs the fragment.
        let (source, filter) = if !scope.items.is_empty() {
            let (mut source, filter) = self.plan_source(&mut scope, filter, correlated, semi)?;
            if correlated {
                self.gather_once(&mut source);
            }
            (Some(source), filter)
        } else if let (true, Some(table), None) = (correlated, &scope.table, &scope.series) {
            let (closed, open): (Vec<Expr>, Vec<Expr>) = filter
                .map(Expr::conjuncts)
                .unwrap_or_default()
                .into_iter()
                .partition(|c| !c.uses_outer());
            let scan = self.table_scan(table.clone(), Expr::all(closed));
            scope.table = None;
            self.init.push(InitPlan {
                plan: Arc::new(Plan::Select(Box::new(scan))),
                place: None,
                dropped: false,
            });
            let init = self.init.len() - 1;
            // Equalities of the row's values to the outer row's: found
            // through a hash index instead of a pass over the rows.
            let (keys, rest) = probe_keys(open);
            let source = match keys.is_empty() {
                true => Source::Init(init),
                false => Source::Probe { init, keys },
            };
            (Some(source), Expr::all(rest))
        } else if let (true, Some(table), None) = (one_place, &scope.table, &scope.series) {
            // Aggregates that must see every row of a group in one place:
            // the rows are gathered to the router, which aggregates them.
            let scan = self.table_scan(table.clone(), filter);
            let width = table.columns.len();
            scope.table = None;
            let source = Source::Query {
                plan: Arc::new(Plan::Select(Box::new(scan))),
                offset: 0,
                width,
            };
            (Some(source), None)
        } else {
            (None, filter)
        };
        // A series is no stored table: it runs once, where the router is.
        let stored = scope.table.as_ref().filter(|_| scope.series.is_none());
        let (target, primary_key) = match stored {
            Some(t) => route(t, filter.as_ref()),
            None => (Target::NoTable, None),
        };
        let index = match (stored, &primary_key, &fragment_output) {
            (Some(t), None, FragmentOutput::Project(exprs)) => {
                // Sort keys served by index order: plain columns, one direction.
                let order: Option<Vec<usize>> =
                    (!distinct && distinct_on.is_empty() && window.is_none() && limit.is_some())
                        .then(|| {
                            order_by
                                .iter()
                                .map(|k| match &exprs[k.column] {
                                    Expr::Column(c) if k.nulls_first == k.descending => Some(*c),
                                    _ => None,
                                })
                                .collect()
                        })
                        .flatten();
                let descending = order_by.first().is_some_and(|k| k.descending);
                let order = order.filter(|o| {
                    !o.is_empty() && order_by.iter().all(|k| k.descending == descending)
                });
                choose_index(
                    self.catalog,
                    t,
                    filter.as_ref(),
                    order.as_deref(),
                    descending,
                    limit.clone().map(|l| (l, offset.clone())),
                )
            }
            (Some(t), None, _) => choose_index(self.catalog, t, filter.as_ref(), None, false, None),
            _ => None,
        };
        // A list of whole primary keys is read key by key.
        let lookup = match (stored, &primary_key) {
            (Some(t), None) => self.key_list(t, filter.as_ref()),
            _ => None,
        };
        let index = if lookup.is_some() { None } else { index };
        let plan = SelectPlan {
            target,
            source,
            fragment: ScanFragment {
                table: stored.cloned(),
                primary_key,
                index,
                series: scope.series.clone(),
                lookup,
                filter,
                output: fragment_output,
            },
            aggregate,
            distinct,
            distinct_on,
            window,
            order_by,
            limit,
            offset,
            visible,
        };
        let mut plan = plan;
        self.prune_columns(&mut plan);
        Ok((plan, descs))
    }

    /// A query over joined FROM items reads only some of their columns:
    /// the table scans feeding it leave the others NULL, so that values
    /// nothing reads (long comments, say) are neither copied on the shards
    /// nor sent to the router.
    fn prune_columns(&mut self, plan: &mut SelectPlan) {
        let Some(source) = &plan.source else {
            return;
        };
        let mut used = Vec::new();
        let mut mark = |c: usize| {
            if used.len() <= c {
                used.resize(c + 1, false);
            }
            used[c] = true;
        };
        let fragment = &plan.fragment;
        fragment
            .filter
            .iter()
            .for_each(|e| e.for_each_column(&mut mark));
        match &fragment.output {
            FragmentOutput::Project(exprs) => {
                exprs.iter().for_each(|e| e.for_each_column(&mut mark));
            }
            FragmentOutput::PartialAggregate { group_by, aggs, .. } => {
                group_by.iter().for_each(|e| e.for_each_column(&mut mark));
                aggs.iter()
                    .flat_map(AggCall::exprs)
                    .for_each(|e| e.for_each_column(&mut mark));
            }
        }
        source_columns(source, &mut mark);
        if !compact_joined_rows(plan, &used) && !compact_gathered_rows(plan, &used, &mut self.init)
        {
            if let Some(source) = &mut plan.source {
                prune_source(source, &used, &mut self.init);
            }
        }
    }
}

/// Makes the rows a join of FROM items produces hold only the columns
/// the query reads: each plain table scan under the joins sends just
/// those, and every position in the joined row, in the joins' keys and
/// conditions and in the fragment over them, moves down accordingly. The
/// rows joins copy and hold are then as narrow as the query, not as wide
/// as all the tables (TPC-H Q5 reads 12 of 47 columns). `false` when the
/// FROM is not only joins of queries (correlated, LATERAL and the like
/// keep the whole width, with unread columns NULL).
fn compact_joined_rows(plan: &mut SelectPlan, used: &[bool]) -> bool {
    let Some(Source::Join(_)) = &plan.source else {
        return false;
    };
    let mut leaves = Vec::new();
    if !plan
        .source
        .as_ref()
        .is_some_and(|s| query_leaves(s, &mut leaves))
    {
        return false;
    }
    // The items tile the joined row in offset order (an item without
    // columns shares its offset with the next: left as it is).
    leaves.sort_unstable_by_key(|l| l.0);
    if leaves.windows(2).any(|w| w[0].0 == w[1].0) {
        return false;
    }
    let width = leaves[0].1;
    let mut spans = Vec::with_capacity(leaves.len());
    for (n, &(offset, w, plain)) in leaves.iter().enumerate() {
        let end = leaves.get(n + 1).map_or(width, |next| next.0);
        if w != width || end < offset || (n == 0 && offset != 0) {
            return false;
        }
        spans.push((offset, end, plain));
    }
    let mut remap = vec![usize::MAX; width];
    let mut placed = Vec::with_capacity(spans.len());
    let mut next = 0;
    for &(offset, end, plain) in &spans {
        let start = next;
        for (c, slot) in remap.iter_mut().enumerate().take(end).skip(offset) {
            if !plain || used.get(c).copied().unwrap_or(false) {
                *slot = next;
                next += 1;
            }
        }
        placed.push((offset, start, next - start));
    }
    if next == width {
        return false;
    }
    let remap_of = |c: usize| remap.get(c).copied().unwrap_or(usize::MAX);
    remap_fragment(&mut plan.fragment, &remap_of);
    if let Some(source) = &mut plan.source {
        compact_source(source, &remap_of, &placed, next, used);
    }
    true
}

/// Inside a correlated subquery over one table, whose rows an init plan
/// gathers once for every evaluation: the same narrowing as
/// [`compact_joined_rows`], so the gathered rows hold only the columns
/// the subquery reads (TPC-H Q4 and Q21 gather lineitem for an EXISTS
/// that reads two of its sixteen).
fn compact_gathered_rows(plan: &mut SelectPlan, used: &[bool], init: &mut [InitPlan]) -> bool {
    let n = match &plan.source {
        Some(Source::Probe { init, .. } | Source::Init(init)) => *init,
        _ => return false,
    };
    let Some(InitPlan {
        plan: gathered,
        place: Some((0, width)),
        ..
    }) = init.get(n)
    else {
        return false;
    };
    let width = *width;
    let Plan::Select(select) = &**gathered else {
        return false;
    };
    if plain_scan_exprs(select).is_none_or(|e| e.len() != width) {
        return false;
    }
    let mut remap = vec![usize::MAX; width];
    let mut kept = 0;
    for (c, slot) in remap.iter_mut().enumerate() {
        if used.get(c).copied().unwrap_or(false) {
            *slot = kept;
            kept += 1;
        }
    }
    if kept == width {
        return false;
    }
    init[n] = InitPlan {
        plan: narrowed_scan(select, |c| used.get(c).copied().unwrap_or(false)),
        place: Some((0, kept)),
        dropped: false,
    };
    let remap_of = |c: usize| remap.get(c).copied().unwrap_or(usize::MAX);
    remap_fragment(&mut plan.fragment, &remap_of);
    if let Some(Source::Probe { keys, .. }) = &mut plan.source {
        for (inner, _) in keys {
            *inner = inner.map_columns(&remap_of);
        }
    }
    true
}

/// Moves every column the fragment reads from `c` to `remap(c)`.
fn remap_fragment(fragment: &mut ScanFragment, remap: &impl Fn(usize) -> usize) {
    let map = |e: &mut Expr| *e = e.map_columns(remap);
    fragment.filter.iter_mut().for_each(map);
    match &mut fragment.output {
        FragmentOutput::Project(exprs) => exprs.iter_mut().for_each(map),
        FragmentOutput::PartialAggregate { group_by, aggs, .. } => {
            group_by.iter_mut().for_each(map);
            for a in aggs {
                a.arg.iter_mut().for_each(map);
                a.second_arg.iter_mut().for_each(map);
                a.filter.iter_mut().for_each(map);
                a.direct_arg.iter_mut().for_each(map);
                a.order_by.iter_mut().for_each(|(e, _, _)| map(e));
            }
        }
    }
}

/// The FROM items under joins: `(offset, width, plain scan)` each;
/// `false` when one is not a query.
fn query_leaves(source: &Source, out: &mut Vec<(usize, usize, bool)>) -> bool {
    match source {
        Source::Join(join) => query_leaves(&join.left, out) && query_leaves(&join.right, out),
        Source::Query {
            plan,
            offset,
            width,
        } => {
            let plain = match &**plan {
                Plan::Select(select) => plain_scan_exprs(select).is_some(),
                _ => false,
            };
            out.push((*offset, *width, plain));
            true
        }
        _ => false,
    }
}

/// Rewrites `source` for the compacted row (see [`compact_joined_rows`]):
/// `placed` says, per item by old offset, its new offset and width.
fn compact_source(
    source: &mut Source,
    remap: &impl Fn(usize) -> usize,
    placed: &[(usize, usize, usize)],
    width: usize,
    used: &[bool],
) {
    match source {
        Source::Join(join) => {
            for (l, r) in &mut join.keys {
                *l = l.map_columns(remap);
                *r = r.map_columns(remap);
            }
            if let Some(r) = &mut join.residual {
                *r = r.map_columns(remap);
            }
            let mut items = Vec::new();
            item_places(&join.right, placed, &mut items);
            items.sort_unstable();
            compact_source(&mut join.left, remap, placed, width, used);
            compact_source(&mut join.right, remap, placed, width, used);
            let mut ranges: Vec<(usize, usize)> = Vec::new();
            for (start, len) in items {
                match ranges.last_mut() {
                    Some((s, l)) if *s + *l == start => *l += len,
                    _ => ranges.push((start, len)),
                }
            }
            join.right_columns = ranges;
        }
        Source::Query {
            plan,
            offset,
            width: w,
        } => {
            let Some(&(old, new, _)) = placed.iter().find(|p| p.0 == *offset) else {
                return;
            };
            if let Plan::Select(select) = &**plan {
                if plain_scan_exprs(select).is_some() {
                    *plan = narrowed_scan(select, |i| used.get(old + i).copied().unwrap_or(false));
                }
            }
            *offset = new;
            *w = width;
        }
        _ => {}
    }
}

/// A plain scan (see [`plain_scan_exprs`]) sending only the columns
/// `keep` marks, in order.
fn narrowed_scan(select: &SelectPlan, keep: impl Fn(usize) -> bool) -> Arc<Plan> {
    let width = plain_scan_exprs(select).map_or(0, <[Expr]>::len);
    let kept: Vec<Expr> = (0..width).filter(|&i| keep(i)).map(Expr::Column).collect();
    let mut narrowed = select.clone();
    narrowed.visible = kept.len();
    narrowed.fragment.output = FragmentOutput::Project(kept);
    Arc::new(Plan::Select(Box::new(narrowed)))
}

/// Where each query item under `source` (at its old offset) sits in the
/// compacted row: `(offset, width)`.
fn item_places(source: &Source, placed: &[(usize, usize, usize)], out: &mut Vec<(usize, usize)>) {
    match source {
        Source::Join(join) => {
            item_places(&join.left, placed, out);
            item_places(&join.right, placed, out);
        }
        Source::Query { offset, .. } => {
            if let Some(&(_, new, len)) = placed.iter().find(|p| p.0 == *offset) {
                out.push((new, len));
            }
        }
        _ => {}
    }
}

/// The output of a plain scan of every column of a table (what
/// [`Binder::table_scan`] makes); `None` for any other plan.
fn plain_scan_exprs(select: &SelectPlan) -> Option<&[Expr]> {
    let f = &select.fragment;
    let FragmentOutput::Project(exprs) = &f.output else {
        return None;
    };
    let plain = select.source.is_none()
        && f.table.is_some()
        && select.aggregate.is_none()
        && select.window.is_none()
        && !select.distinct
        && select.order_by.is_empty()
        && select.limit.is_none()
        && exprs.iter().enumerate().all(|(i, e)| *e == Expr::Column(i));
    plain.then_some(exprs)
}

/// Whether `e` holds a correlated subquery, run again for each row.
fn runs_per_row(e: &Expr) -> bool {
    e.any(&|x| {
        matches!(x, Expr::Subquery(sub) if matches!(sub.query, crate::expr::SubqueryRows::PerRow(_)))
    })
}

/// Marks the columns of the joined row that the joins of `source` read.
fn source_columns(source: &Source, mark: &mut impl FnMut(usize)) {
    match source {
        Source::Join(join) => {
            for (l, r) in &join.keys {
                l.for_each_column(mark);
                r.for_each_column(mark);
            }
            join.residual.iter().for_each(|e| e.for_each_column(mark));
            source_columns(&join.left, mark);
            source_columns(&join.right, mark);
        }
        Source::Probe { keys, .. } => keys
            .iter()
            .for_each(|(inner, _)| inner.for_each_column(mark)),
        Source::Lateral { args, .. } => args.iter().for_each(|e| e.for_each_column(mark)),
        _ => {}
    }
}

/// Replaces, in the table scans under `source`'s joins, each column
/// `used` does not mark with NULL.
fn prune_source(source: &mut Source, used: &[bool], init: &mut [InitPlan]) {
    let prune = |plan: &mut Arc<Plan>, offset: usize| {
        let Plan::Select(select) = &**plan else {
            return;
        };
        let Some(pruned) = pruned_scan(select, offset, used) else {
            return;
        };
        *plan = Arc::new(Plan::Select(Box::new(pruned)));
    };
    match source {
        Source::Join(join) => {
            prune_source(&mut join.left, used, init);
            prune_source(&mut join.right, used, init);
        }
        Source::Query { plan, offset, .. } => prune(plan, *offset),
        Source::Init(n) | Source::Probe { init: n, .. } => {
            if let Some(InitPlan {
                plan,
                place: Some((offset, _)),
                ..
            }) = init.get_mut(*n)
            {
                prune(plan, *offset);
            }
        }
        _ => {}
    }
}

/// A plain scan of every column of a table (what [`Binder::table_scan`]
/// makes) with the columns at `offset + i` that `used` does not mark
/// replaced by NULL; `None` for any other plan.
fn pruned_scan(select: &SelectPlan, offset: usize, used: &[bool]) -> Option<SelectPlan> {
    let exprs = plain_scan_exprs(select)?;
    let is_used = |i: usize| used.get(offset + i).copied().unwrap_or(false);
    if (0..exprs.len()).all(is_used) {
        return None;
    }
    let mut pruned = select.clone();
    pruned.fragment.output = FragmentOutput::Project(
        (0..exprs.len())
            .map(|i| match is_used(i) {
                true => Expr::Column(i),
                false => Expr::Literal(Value::Null),
            })
            .collect(),
    );
    Some(pruned)
}

impl Binder<'_> {
    fn bind_order_by(
        &mut self,
        order_items: &[ast::OrderByExpr],
        items: &[(ast::Expr, String)],
        distinct: bool,
        outputs: &mut Vec<(Expr, DataType)>,
        mut bind: impl FnMut(&mut Self, &ast::Expr) -> Result<(Expr, DataType)>,
    ) -> Result<Vec<SortKey>> {
        let mut keys = Vec::new();
        for o in order_items {
            if o.with_fill.is_some() {
                return Err(Error::unsupported("ORDER BY … WITH FILL"));
            }
            let column = match output_ref_index(&o.expr, items)? {
                Some(i) => i,
                None => {
                    let (e, t) = bind(self, &o.expr)?;
                    match outputs.iter().position(|(x, _)| *x == e) {
                        Some(i) => i,
                        None if distinct => return Err(Error::new(
                            sqlstate::INVALID_COLUMN_REFERENCE,
                            "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
                        )),
                        None => {
                            outputs.push((e, t));
                            outputs.len() - 1
                        }
                    }
                }
            };
            let descending = o.options.asc == Some(false);
            keys.push(SortKey {
                column,
                descending,
                nulls_first: o.options.nulls_first.unwrap_or(descending),
            });
        }
        Ok(keys)
    }

    /// LIMIT and OFFSET, or FETCH FIRST n ROWS ONLY.
    fn bind_limit(&mut self, q: &ast::Query) -> Result<(Option<Expr>, Option<Expr>)> {
        let (limit, offset) = match &q.limit_clause {
            None => (None, None),
            Some(clause) => self.limit_clause(clause)?,
        };
        let Some(fetch) = &q.fetch else {
            return Ok((limit, offset));
        };
        if fetch.with_ties || fetch.percent {
            return Err(Error::unsupported("FETCH … WITH TIES or PERCENT"));
        }
        if limit.is_some() {
            return Err(Error::syntax("syntax error at or near \"FETCH\""));
        }
        let one = ast::Expr::value(ast::Value::Number("1".into(), false));
        let count = fetch.quantity.clone().unwrap_or(one);
        let empty = Scope::default();
        let ctx = &mut Ctx::Row { clause: "FETCH" };
        let (x, t) = self.bind_expr_hint(&count, &empty, ctx, Some(DataType::Int8))?;
        Ok((Some(self.coerce(x, t, DataType::Int8)?), offset))
    }

    fn limit_clause(&mut self, clause: &ast::LimitClause) -> Result<(Option<Expr>, Option<Expr>)> {
        let (limit, offset) = match clause {
            ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            } => {
                if !limit_by.is_empty() {
                    return Err(Error::unsupported("LIMIT BY"));
                }
                (limit.clone(), offset.as_ref().map(|o| o.value.clone()))
            }
            ast::LimitClause::OffsetCommaLimit { .. } => {
                return Err(Error::syntax("LIMIT #,# syntax is not supported")
                    .with_hint("Use separate LIMIT and OFFSET clauses."))
            }
        };
        let empty = Scope::default();
        let bind =
            |b: &mut Self, e: Option<ast::Expr>, clause: &'static str| -> Result<Option<Expr>> {
                let Some(e) = e else { return Ok(None) };
                let (x, t) =
                    b.bind_expr_hint(&e, &empty, &mut Ctx::Row { clause }, Some(DataType::Int8))?;
                if !t.is_numeric_family() && t != DataType::Unknown {
                    return Err(Error::datatype_mismatch(format!(
                        "argument of {clause} must be type bigint, not type {t}"
                    )));
                }
                Ok(Some(b.coerce(x, t, DataType::Int8)?))
            };
        let limit = bind(self, limit, "LIMIT")?;
        let offset = bind(self, offset, "OFFSET")?;
        Ok((limit, offset))
    }

    fn bind_from(&mut self, from: &[ast::TableWithJoins]) -> Result<Scope> {
        match from {
            [] => Ok(Scope::default()),
            [one]
                if one.joins.is_empty()
                    && self.cte_of(&one.relation).is_none()
                    && self.view_of(&one.relation).is_none()
                    && self.system_relation_of(&one.relation).is_none()
                    && self.sequence_of(&one.relation).is_none()
                    && !matches!(
                        one.relation,
                        ast::TableFactor::Derived { .. } | ast::TableFactor::NestedJoin { .. }
                    )
                    // json[b]_to_record[set] become subqueries (or errors).
                    && matches!(json_to_record_item(&one.relation), Ok(None))
                    && matches!(options_to_table_item(&one.relation), Ok(None)) =>
            {
                self.bind_relation(&one.relation)
            }
            _ => {
                let mut scope = Scope::default();
                for item in from {
                    let tree = self.bind_table_with_joins(item, &mut scope)?;
                    scope.tree = Some(match scope.tree.take() {
                        None => tree,
                        Some(left) => self.join_trees(
                            &mut scope,
                            left,
                            tree,
                            JoinKind::Inner,
                            &ast::JoinConstraint::None,
                        )?,
                    });
                }
                Ok(scope)
            }
        }
    }

    /// A FROM item and the joins after it, added to `scope`.
    fn bind_table_with_joins(
        &mut self,
        item: &ast::TableWithJoins,
        scope: &mut Scope,
    ) -> Result<JoinTree> {
        let mut tree = self.bind_item(&item.relation, scope)?;
        for join in &item.joins {
            let right = self.bind_item(&join.relation, scope)?;
            use ast::JoinOperator as J;
            let (kind, constraint) = match &join.join_operator {
                J::Join(c) | J::Inner(c) => (JoinKind::Inner, c),
                J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, c),
                J::Right(c) | J::RightOuter(c) => (JoinKind::Right, c),
                J::FullOuter(c) => (JoinKind::Full, c),
                J::CrossJoin(c) => (JoinKind::Inner, c),
                other => return Err(Error::unsupported(format!("the join {other:?}"))),
            };
            if join.global {
                return Err(Error::unsupported("GLOBAL JOIN"));
            }
            tree = self.join_trees(scope, tree, right, kind, constraint)?;
        }
        Ok(tree)
    }

    /// One FROM item (a table, `generate_series`, a subquery, or joins in
    /// parentheses), appended to `scope`.
    fn bind_item(&mut self, relation: &ast::TableFactor, scope: &mut Scope) -> Result<JoinTree> {
        refuse_modifiers(relation)?;
        self.bind_item_unlocated(relation, scope)
            .map_err(|e| relation_located(e, relation))
    }

    fn bind_item_unlocated(
        &mut self,
        relation: &ast::TableFactor,
        scope: &mut Scope,
    ) -> Result<JoinTree> {
        if let Some(function) = function_factor(relation) {
            return self.bind_item(&function, scope);
        }
        if let Some(derived) = partition_ancestors_item(relation)? {
            return self.bind_item(&derived, scope);
        }
        if let Some(derived) = json_to_record_item(relation)? {
            return self.bind_item(&derived, scope);
        }
        if let Some(derived) = options_to_table_item(relation)? {
            return self.bind_item(&derived, scope);
        }
        let function = matches!(relation, ast::TableFactor::Table { args: Some(_), .. });
        let mut catalog_oid = None;
        let (qualifier, columns, input) = match relation {
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias: None,
            } => return self.bind_table_with_joins(table_with_joins, scope),
            ast::TableFactor::NestedJoin { alias: Some(_), .. } => {
                return Err(Error::unsupported("an alias on joins in parentheses"))
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
            } => {
                let Some(alias) = alias else {
                    return Err(Error::syntax("subquery in FROM must have an alias")
                        .with_hint("For example, FROM (SELECT ...) [AS] foo."));
                };
                let (plan, descs, args) = match lateral {
                    false => {
                        let (plan, descs) = self.bind_query(subquery)?;
                        (plan, descs, vec![])
                    }
                    true => self.bind_lateral(subquery, scope)?,
                };
                let columns = alias_columns(alias, &descs)?;
                let input = match args.is_empty() {
                    true => ItemInput::Query(Box::new(plan)),
                    false => ItemInput::Lateral(Box::new(plan), args),
                };
                (ident_name(&alias.name), columns, input)
            }
            other if self.system_relation_of(other).is_some() => {
                let ast::TableFactor::Table { alias, .. } = other else {
                    return Err(Error::internal("a catalog relation that is not a name"));
                };
                let name = self.system_relation_of(other).expect("checked above");
                self.reads_system = true;
                // The password verifiers are for superusers' eyes only.
                let superuser = self
                    .catalog
                    .role(&self.names.user)
                    .is_some_and(|r| r.superuser);
                if !name.is_information_schema() && name.name == "pg_authid" && !superuser {
                    return Err(Error::new(
                        sqlstate::INSUFFICIENT_PRIVILEGE,
                        "permission denied for table pg_authid",
                    ));
                }
                let mut generated = self
                    .system()
                    .system_relation(&name)
                    .ok_or_else(|| Error::internal("a catalog relation without rows"))?;
                if name.name == "pg_cursors" && !name.is_information_schema() {
                    generated.rows = self.cursors.clone();
                    self.reads_cursors = true;
                }
                let descs: Vec<ColumnDesc> = generated
                    .columns
                    .iter()
                    .map(|(n, t)| ColumnDesc {
                        name: n.clone(),
                        data_type: *t,
                        table_oid: 0,
                        column_id: 0,
                    })
                    .collect();
                let columns = match alias {
                    Some(a) => alias_columns(a, &descs)?,
                    None => generated.columns.clone(),
                };
                let width = columns.len();
                let settings = name.name == "pg_settings" && !name.is_information_schema();
                let mut generated_rows = generated.rows;
                if name.name == "pg_prepared_statements" && !name.is_information_schema() {
                    generated_rows = self
                        .prepared
                        .map(crate::system::prepared_statement_rows)
                        .unwrap_or_default();
                    self.reads_prepared = true;
                }
                let rows = generated_rows
                    .into_iter()
                    .map(|r| {
                        // A setting the session may change: its value as
                        // the statement runs (`context` is column 6).
                        let user =
                            settings && matches!(&r.get(6), Some(Value::Text(c)) if c == "user");
                        let name = r.first().cloned().unwrap_or_default();
                        let unit = r.get(2).cloned().unwrap_or_default();
                        r.into_iter()
                            .enumerate()
                            .map(|(i, v)| match i {
                                1 if user => Expr::Setting {
                                    set: false,
                                    args: vec![
                                        Expr::Literal(name.clone()),
                                        Expr::Literal(Value::Bool(true)),
                                        Expr::Literal(unit.clone()),
                                    ],
                                },
                                _ => Expr::Literal(v),
                            })
                            .collect()
                    })
                    .collect();
                if settings {
                    self.uses_settings = true;
                }
                let plan = SelectPlan {
                    source: Some(Source::Values(rows)),
                    ..SelectPlan::rows(Target::NoTable, identity_fragment(width))
                };
                if !name.is_information_schema() {
                    catalog_oid = crate::system::catalog_table_oid(&name.name);
                }
                let qualifier = alias.as_ref().map_or(name.name, |a| ident_name(&a.name));
                (qualifier, columns, ItemInput::Query(Box::new(plan)))
            }
            other if self.sequence_of(other).is_some() => {
                // A sequence read as a relation: one row of its state as
                // the statement runs (log_cnt, the values PostgreSQL logs
                // ahead, is 0: Tessera logs each value it gives out).
                let ast::TableFactor::Table { alias, .. } = other else {
                    return Err(Error::internal("a sequence that is not a name"));
                };
                let seq = self.sequence_of(other).expect("checked above");
                let read = |op| Expr::Sequence {
                    op,
                    seq: Some(seq.clone()),
                    args: vec![],
                };
                let descs: Vec<ColumnDesc> = [
                    ("last_value", DataType::Int8),
                    ("log_cnt", DataType::Int8),
                    ("is_called", DataType::Bool),
                ]
                .into_iter()
                .map(|(n, t)| ColumnDesc {
                    name: n.into(),
                    data_type: t,
                    table_oid: 0,
                    column_id: 0,
                })
                .collect();
                let columns = item_columns(alias.as_ref(), &descs)?;
                self.uses_sequences = true;
                let row = vec![
                    read(SequenceOp::ReadLastValue),
                    Expr::Literal(Value::Int8(0)),
                    read(SequenceOp::ReadIsCalled),
                ];
                let plan = SelectPlan {
                    source: Some(Source::Values(vec![row])),
                    ..SelectPlan::rows(Target::NoTable, identity_fragment(3))
                };
                let qualifier = alias
                    .as_ref()
                    .map_or_else(|| seq.name.clone(), |a| ident_name(&a.name));
                (qualifier, columns, ItemInput::Query(Box::new(plan)))
            }
            other if self.view_of(other).is_some() => {
                let ast::TableFactor::Table { alias, .. } = other else {
                    return Err(Error::internal("a view that is not a name"));
                };
                let view = self.view_of(other).expect("checked above");
                let (plan, descs) = self.bind_view(&view)?;
                let columns = item_columns(alias.as_ref(), &descs)?;
                let qualifier = alias
                    .as_ref()
                    .map_or_else(|| view.name.clone(), |a| ident_name(&a.name));
                (qualifier, columns, ItemInput::Query(Box::new(plan)))
            }
            other if self.cte_of(other).is_some() => {
                let ast::TableFactor::Table { alias, .. } = other else {
                    return Err(Error::internal("a WITH query that is not a name"));
                };
                let depth = self.outer.len();
                let cte = self.cte_of(other).expect("checked above");
                let qualifier = alias
                    .as_ref()
                    .map_or_else(|| cte.name.clone(), |a| ident_name(&a.name));
                let mut columns = cte.columns.clone();
                if let Some(a) = alias {
                    let descs: Vec<ColumnDesc> = columns
                        .iter()
                        .map(|(n, t)| ColumnDesc {
                            name: n.clone(),
                            data_type: *t,
                            table_oid: 0,
                            column_id: 0,
                        })
                        .collect();
                    columns = alias_columns(a, &descs)?;
                }
                let plan = match &cte.body {
                    CteBody::Plan(plan) => (**plan).clone(),
                    CteBody::Work(_) if cte.depth != depth => {
                        return Err(Error::new(
                            sqlstate::INVALID_RECURSION,
                            format!(
                            "recursive reference to query \"{}\" must not appear within a subquery",
                            cte.name
                        ),
                        ))
                    }
                    CteBody::Work(k) => SelectPlan {
                        source: Some(Source::Work(*k)),
                        ..SelectPlan::rows(Target::NoTable, identity_fragment(columns.len()))
                    },
                    CteBody::NoReturning => {
                        return Err(Error::new(
                            sqlstate::FEATURE_NOT_SUPPORTED,
                            format!(
                                "WITH query \"{}\" does not have a RETURNING clause",
                                cte.name
                            ),
                        ))
                    }
                };
                (qualifier, columns, ItemInput::Query(Box::new(plan)))
            }
            other => {
                // A function in FROM may read the items before it (an
                // implicit LATERAL, as in PostgreSQL).
                let function = matches!(other, ast::TableFactor::Table { args: Some(_), .. });
                if function {
                    self.outer.push(OuterLevel {
                        scope: scope.names(),
                        refs: Vec::new(),
                    });
                }
                let bound = self.bind_relation(other);
                let refs = match function {
                    true => self.outer.pop().map(|l| l.refs).unwrap_or_default(),
                    false => vec![],
                };
                let single = bound?;
                let args = self.outer_args(refs, scope, &mut Ctx::Row { clause: "FROM" })?;
                let (Some(def), Some(qualifier)) = (single.table, single.qualifier) else {
                    return Err(Error::internal("a FROM item without a relation"));
                };
                let columns = def
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.data_type))
                    .collect();
                let input = match single.series {
                    Some(series) => {
                        let plan = Box::new(SelectPlan::rows(
                            Target::NoTable,
                            ScanFragment {
                                table: None,
                                primary_key: None,
                                index: None,
                                series: Some(series),
                                lookup: None,
                                filter: None,
                                output: FragmentOutput::Project(
                                    (0..def.columns.len()).map(Expr::Column).collect(),
                                ),
                            },
                        ));
                        match args.is_empty() {
                            true => ItemInput::Query(plan),
                            false => ItemInput::Lateral(plan, args),
                        }
                    }
                    None => ItemInput::Table(def),
                };
                (qualifier, columns, input)
            }
        };
        if scope.items.iter().any(|it| it.qualifier == qualifier) {
            return Err(Error::new(
                sqlstate::DUPLICATE_ALIAS,
                format!("table name \"{qualifier}\" specified more than once"),
            ));
        }
        let columns: Vec<(String, DataType)> = columns;
        // A select list's set-returning calls are not among its `*`.
        let starred = qualifier != SRF_ALIAS;
        for (k, (c, _)) in columns
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| starred && !is_dropped_name(c))
        {
            scope
                .star
                .push((star_ref(&qualifier, &columns, k), c.clone()));
        }
        let offset = scope.width(0, scope.items.len());
        scope.items.push(ScopeItem {
            scalar_function: function && columns.len() == 1,
            catalog_oid,
            qualifier,
            hidden: vec![false; columns.len()],
            columns,
            offset,
            input: Some(input),
            nullable: false,
            probe: Vec::new(),
        });
        Ok(JoinTree::Item(scope.items.len() - 1))
    }

    /// Joins `left` and `right` (the last items of `scope`) under `constraint`.
    fn join_trees(
        &mut self,
        scope: &mut Scope,
        left: JoinTree,
        right: JoinTree,
        kind: JoinKind,
        constraint: &ast::JoinConstraint,
    ) -> Result<JoinTree> {
        let (first, split) = left.range();
        let (_, end) = right.range();
        let mut on = Vec::new();
        let using: Vec<String> = match constraint {
            ast::JoinConstraint::None => vec![],
            ast::JoinConstraint::On(e) => {
                let (x, t) = self.bind_expr(e, scope, &mut Ctx::Row { clause: "JOIN/ON" })?;
                if t != DataType::Bool && t != DataType::Unknown {
                    return Err(Error::datatype_mismatch(format!(
                        "argument of JOIN/ON must be type boolean, not type {t}"
                    )));
                }
                on = self.coerce(x, t, DataType::Bool)?.conjuncts();
                vec![]
            }
            ast::JoinConstraint::Using(names) => {
                names.iter().map(object_name).collect::<Result<Vec<_>>>()?
            }
            ast::JoinConstraint::Natural => {
                // Names `*` shows on both sides.
                let left_names: Vec<&String> = scope
                    .star
                    .iter()
                    .filter(|(e, _)| self.star_side(scope, e, first, split))
                    .map(|(_, n)| n)
                    .collect();
                scope
                    .star
                    .iter()
                    .filter(|(e, _)| self.star_side(scope, e, split, end))
                    .map(|(_, n)| n.clone())
                    .filter(|n| left_names.contains(&n))
                    .collect()
            }
        };
        let mut merged_star = Vec::new();
        for name in &using {
            let (l, lt) = self.side_column(scope, name, first, split, "left")?;
            let (r, rt) = self.side_column(scope, name, split, end, "right")?;
            let common = unify(lt, rt).ok_or_else(|| {
                Error::datatype_mismatch(format!(
                    "JOIN/USING types {lt} and {rt} cannot be matched"
                ))
            })?;
            let l = self.coerce(l, lt, common)?;
            let r = self.coerce(r, rt, common)?;
            on.push(Expr::Binary {
                op: BinaryOp::Eq,
                left: Box::new(l.clone()),
                right: Box::new(r.clone()),
            });
            let merged = match kind {
                JoinKind::Inner | JoinKind::Left | JoinKind::Semi | JoinKind::Anti => l.clone(),
                JoinKind::Right => r.clone(),
                JoinKind::Full => Expr::Call {
                    func: crate::expr::Function::Coalesce,
                    args: vec![l.clone(), r.clone()],
                },
            };
            // The sides' columns (or an earlier merge of them) are now
            // reached through the merged one.
            for side in [&l, &r] {
                if let Expr::Column(c) = side {
                    if let Some(i) = scope.item_index(*c) {
                        let item = &mut scope.items[i];
                        item.hidden[*c - item.offset] = true;
                    }
                }
            }
            scope.merged.retain(|(n, ..)| n != name);
            scope.merged.push((name.clone(), merged, common));
            merged_star.push((
                ast::Expr::Identifier(ast::Ident::with_quote('"', name)),
                name.clone(),
            ));
        }
        if !using.is_empty() {
            // `*` shows the merged columns first, then each side's others.
            let mut star = merged_star;
            for (lo, hi) in [(first, split), (split, end)] {
                let mut dropped: Vec<&String> = Vec::new();
                for (e, n) in &scope.star {
                    if !self.star_side(scope, e, lo, hi) {
                        continue;
                    }
                    if using.contains(n) && !dropped.contains(&n) {
                        dropped.push(n);
                        continue;
                    }
                    star.push((e.clone(), n.clone()));
                }
            }
            let outside: Vec<(ast::Expr, String)> = scope
                .star
                .iter()
                .filter(|(e, _)| !self.star_side(scope, e, first, end))
                .cloned()
                .collect();
            star.extend(outside);
            scope.star = star;
        }
        let nullable = match kind {
            JoinKind::Inner | JoinKind::Semi | JoinKind::Anti => vec![],
            JoinKind::Left => vec![(split, end)],
            JoinKind::Right => vec![(first, split)],
            JoinKind::Full => vec![(first, end)],
        };
        for (lo, hi) in nullable {
            for item in &mut scope.items[lo..hi] {
                item.nullable = true;
            }
        }
        Ok(JoinTree::Join {
            kind,
            left: Box::new(left),
            right: Box::new(right),
            on,
            first,
            split,
            end,
        })
    }

    /// Whether a `*` entry reads a column of the items `lo..hi` (merged
    /// entries read the items of the join that merged them).
    fn star_side(&self, scope: &Scope, e: &ast::Expr, lo: usize, hi: usize) -> bool {
        let resolved = match e {
            ast::Expr::Identifier(i) => scope.resolve_expr(None, &ident_name(i)),
            ast::Expr::CompoundIdentifier(p) if p.len() == 2 => {
                scope.resolve_expr(Some(&ident_name(&p[0])), &ident_name(&p[1]))
            }
            _ => return false,
        };
        let Ok((x, _)) = resolved else { return false };
        let used = scope.items_of(&x);
        !used.is_empty() && used.iter().all(|i| (lo..hi).contains(i))
    }

    /// The column `name` of the items `lo..hi`, unqualified, for USING.
    fn side_column(
        &self,
        scope: &Scope,
        name: &str,
        lo: usize,
        hi: usize,
        side: &str,
    ) -> Result<(Expr, DataType)> {
        match scope.unqualified(name, lo, hi).as_slice() {
            [] => Err(Error::new(
                sqlstate::UNDEFINED_COLUMN,
                format!(
                    "column \"{name}\" specified in USING clause does not exist in {side} table"
                ),
            )),
            [one] => Ok(one.clone()),
            _ => Err(Error::new(
                sqlstate::AMBIGUOUS_COLUMN,
                format!("common column name \"{name}\" appears more than once in {side} table"),
            )),
        }
    }

    /// The plan of a FROM of several items. Conditions of WHERE that read
    /// one table go down to that table's scan (unless an outer join may
    /// make its columns NULL). When every join is inner, the join order is
    /// chosen (each next item one a condition connects to those joined,
    /// starting from a filtered one) and every condition applies at the
    /// first join that has all its items; otherwise the joins run as
    /// written and WHERE's other conditions stay in `filter`.
    fn plan_source(
        &mut self,
        scope: &mut Scope,
        filter: Option<Expr>,
        correlated: bool,
        semi: Vec<decorrelate::SemiJoin>,
    ) -> Result<(Source, Option<Expr>)> {
        let mut tree = scope
            .tree
            .take()
            .ok_or_else(|| Error::internal("a FROM of several items without joins"))?;
        // A LATERAL item joins after the items it reads: as written.
        let lateral = scope
            .items
            .iter()
            .any(|it| matches!(it.input, Some(ItemInput::Lateral(..))));
        let all_inner = tree.all_inner() && !lateral;
        let mut conditions = filter.map(Expr::conjuncts).unwrap_or_default();
        if all_inner {
            take_conditions(&mut tree, &mut conditions);
        }
        let conditions = factor_ors(conditions, |e| scope.items_of(e));
        let mut pushed: Vec<Vec<Expr>> = scope.items.iter().map(|_| Vec::new()).collect();
        let mut multi: Vec<(Vec<usize>, Expr)> = Vec::new();
        let mut top = Vec::new();
        for c in conditions {
            let used = scope.items_of(&c);
            match used.as_slice() {
                [] => top.push(c),
                // A correlated subquery runs once per row it is evaluated
                // for: after the joins, which mostly leave fewer rows
                // than the item's own (TPC-H Q21's EXISTS over lineitem).
                [_] if runs_per_row(&c) => top.push(c),
                [one]
                    if !scope.items[*one].nullable
                        && !c.uses_outer()
                        && matches!(scope.items[*one].input, Some(ItemInput::Table(_))) =>
                {
                    pushed[*one].push(c)
                }
                [one]
                    if correlated
                        && !scope.items[*one].nullable
                        && matches!(scope.items[*one].input, Some(ItemInput::Table(_))) =>
                {
                    let (keys, rest) = probe_keys(vec![c]);
                    scope.items[*one].probe.extend(keys);
                    top.extend(rest);
                }
                [_] => top.push(c),
                _ if all_inner => multi.push((used, c)),
                _ => top.push(c),
            }
        }
        // Semi and anti joins come last, their tables' columns after the
        // items'.
        let items_width = scope.width(0, scope.items.len());
        let width = items_width + semi.iter().map(|j| j.width).sum::<usize>();
        let mut source = if all_inner {
            self.inner_joins(scope, &mut pushed, multi, width)?
        } else {
            self.source_of(scope, tree, &mut pushed, width)?
        };
        let mut offset = items_width;
        for join in semi {
            let columns = join.width;
            source = join.join(source, offset, width);
            offset += columns;
        }
        Ok((source, Expr::all(top)))
    }

    /// The input of one FROM item, placed in rows `width` wide.
    fn item_source(
        &mut self,
        scope: &mut Scope,
        i: usize,
        pushed: &mut [Vec<Expr>],
        width: usize,
    ) -> Result<Source> {
        let offset = scope.items[i].offset;
        let input = scope.items[i]
            .input
            .take()
            .ok_or_else(|| Error::internal("a FROM item planned twice"))?;
        let plan = match input {
            ItemInput::Query(plan) | ItemInput::Grouped(plan, _) => *plan,
            ItemInput::Lateral(plan, args) => {
                return Ok(Source::Lateral {
                    plan: Arc::new(*plan),
                    args,
                    offset,
                    width,
                })
            }
            ItemInput::Table(table) => {
                let filter = Expr::all(
                    std::mem::take(&mut pushed[i])
                        .iter()
                        .map(|c| c.rebased(offset))
                        .collect(),
                );
                let scan = self.table_scan(table, filter);
                let keys = std::mem::take(&mut scope.items[i].probe);
                if keys.is_empty() {
                    scan
                } else {
                    // Gathered once, placed in the joined row, and probed
                    // by the outer row's values.
                    self.init.push(InitPlan {
                        plan: Arc::new(Plan::Select(Box::new(scan))),
                        place: Some((offset, width)),
                        dropped: false,
                    });
                    let init = self.init.len() - 1;
                    return Ok(Source::Probe { init, keys });
                }
            }
        };
        Ok(Source::Query {
            plan: Arc::new(Plan::Select(Box::new(plan))),
            offset,
            width,
        })
    }

    /// Every column of the rows of `table` that pass `filter`, read by
    /// key or through an index when the filter allows.
    fn table_scan(&self, table: Arc<TableDef>, filter: Option<Expr>) -> SelectPlan {
        let (target, primary_key) = route(&table, filter.as_ref());
        let index = match primary_key {
            None => choose_index(self.catalog, &table, filter.as_ref(), None, false, None),
            Some(_) => None,
        };
        let all: Vec<Expr> = (0..table.columns.len()).map(Expr::Column).collect();
        SelectPlan::rows(
            target,
            ScanFragment {
                table: Some(table),
                primary_key,
                index,
                series: None,
                lookup: None,
                filter,
                output: FragmentOutput::Project(all),
            },
        )
    }

    /// A correlated query's FROM: the items that do not read the outer
    /// row (nor a recursive query's work table) become init plans,
    /// gathered once.
    fn gather_once(&mut self, source: &mut Source) {
        match source {
            Source::Query {
                plan,
                offset,
                width,
            } if !plan.uses_outer() && !plan.reads_work() => {
                self.init.push(InitPlan {
                    plan: plan.clone(),
                    place: Some((*offset, *width)),
                    dropped: false,
                });
                *source = Source::Init(self.init.len() - 1);
            }
            Source::Join(join) => {
                self.gather_once(&mut join.left);
                self.gather_once(&mut join.right);
            }
            Source::Recursive(r) => {
                self.gather_once(&mut r.start);
                self.gather_once(&mut r.step);
            }
            Source::SetOp(op) => {
                self.gather_once(&mut op.left);
                self.gather_once(&mut op.right);
            }
            _ => {}
        }
    }

    /// Inner joins of every item, in an order chosen by the conditions.
    fn inner_joins(
        &mut self,
        scope: &mut Scope,
        pushed: &mut [Vec<Expr>],
        mut multi: Vec<(Vec<usize>, Expr)>,
        width: usize,
    ) -> Result<Source> {
        let n = scope.items.len();
        let estimates: Vec<f64> = (0..n)
            .map(|i| self.estimate_rows(scope, i, &pushed[i]))
            .collect();
        let ndv = self.distinct_values(scope);
        let distinct = |k: usize| ndv.get(k).copied().unwrap_or(DEFAULT_DISTINCT);
        let column = |e: &Expr| match e {
            Expr::Column(k) => Some(*k),
            Expr::Cast { expr, .. } => match &**expr {
                Expr::Column(k) => Some(*k),
                _ => None,
            },
            _ => None,
        };
        // An equality of plain columns of two items (no cast between them,
        // so equal values compare equal whichever pair is compared).
        let item_of = |k: usize| match scope.items_of(&Expr::Column(k))[..] {
            [i] => Some(i),
            _ => None,
        };
        let plain_equality = |c: &Expr| match c {
            Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
            } => match (&**left, &**right) {
                (Expr::Column(a), Expr::Column(b)) => {
                    let (ia, ib) = (item_of(*a)?, item_of(*b)?);
                    (ia != ib).then_some((*a, *b))
                }
                _ => None,
            },
            _ => None,
        };
        // Classes of columns equal through such equalities; other
        // conditions keep, for an equality of columns (through casts), one
        // over the larger of their distinct values (as PostgreSQL
        // estimates it), else their guessed selectivity.
        let mut classes: Vec<Vec<usize>> = Vec::new();
        let mut conditions = Vec::new();
        for (used, c) in &multi {
            if let Some((a, b)) = plain_equality(c) {
                let ca = classes.iter().position(|k| k.contains(&a));
                let cb = classes.iter().position(|k| k.contains(&b));
                match (ca, cb) {
                    (Some(x), Some(y)) if x == y => {}
                    (Some(x), Some(y)) => {
                        let moved = classes.swap_remove(x.max(y));
                        classes[x.min(y)].extend(moved);
                    }
                    (Some(x), None) => classes[x].push(b),
                    (None, Some(y)) => classes[y].push(a),
                    (None, None) => classes.push(vec![a, b]),
                }
                continue;
            }
            let kept = match c {
                Expr::Binary {
                    op: BinaryOp::Eq,
                    left,
                    right,
                } => match (column(left), column(right)) {
                    (Some(a), Some(b)) => 1.0 / distinct(a).max(distinct(b)).max(1.0),
                    _ => crate::stats::selectivity(c),
                },
                other => crate::stats::selectivity(other),
            };
            conditions.push((used.clone(), kept));
        }
        // The equalities a class implies between items and that were not
        // written (`a = b AND b = c` gives `a = c`), so that any order
        // joins by them: customers then meet nations directly in TPC-H's
        // Q5, not only through suppliers.
        for class in &classes {
            for (x, &a) in class.iter().enumerate() {
                for &b in &class[x + 1..] {
                    let (Some(ia), Some(ib)) = (item_of(a), item_of(b)) else {
                        continue;
                    };
                    let written = multi.iter().any(
                        |(_, c)| matches!(plain_equality(c), Some(p) if p == (a, b) || p == (b, a)),
                    );
                    if ia != ib && !written {
                        multi.push((
                            vec![ia.min(ib), ia.max(ib)],
                            Expr::Binary {
                                op: BinaryOp::Eq,
                                left: Box::new(Expr::Column(a)),
                                right: Box::new(Expr::Column(b)),
                            },
                        ));
                    }
                }
            }
        }
        let graph = JoinGraph {
            estimates,
            links: multi.iter().map(|(used, _)| used.clone()).collect(),
            conditions,
            classes: classes
                .iter()
                .map(|class| {
                    class
                        .iter()
                        .filter_map(|k| Some((item_of(*k)?, distinct(*k))))
                        .collect()
                })
                .collect(),
        };
        // A correlated item probed by the outer row starts; else the order
        // expected to hold the fewest rows in all (with many items, the
        // best greedy order from each start).
        let probed = (0..n).find(|i| !scope.items[*i].probe.is_empty());
        let order = exhaustive_join_order(probed, &graph).unwrap_or_else(|| match probed {
            Some(probed) => join_order(probed, &graph).0,
            None => (0..n)
                .map(|start| join_order(start, &graph))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(order, _)| order)
                .unwrap_or_else(|| (0..n).collect()),
        });
        let start = order[0];
        let mut joined = vec![start];
        let mut source = self.item_source(scope, start, pushed, width)?;
        for &next in &order[1..] {
            let (mine, rest): (Vec<_>, Vec<_>) = multi
                .into_iter()
                .partition(|(used, _)| connects(used, next, &joined));
            multi = rest;
            let mut keys = Vec::new();
            let mut residual = Vec::new();
            for (_, c) in mine {
                match c {
                    Expr::Binary {
                        op: BinaryOp::Eq,
                        left: a,
                        right: b,
                    } => {
                        let (ia, ib) = (scope.items_of(&a), scope.items_of(&b));
                        let only_next = |u: &[usize]| u == [next];
                        let before = |u: &[usize]| !u.is_empty() && !u.contains(&next);
                        if before(&ia) && only_next(&ib) {
                            keys.push((*a, *b));
                        } else if before(&ib) && only_next(&ia) {
                            keys.push((*b, *a));
                        } else {
                            residual.push(Expr::Binary {
                                op: BinaryOp::Eq,
                                left: a,
                                right: b,
                            });
                        }
                    }
                    other => residual.push(other),
                }
            }
            let item = &scope.items[next];
            let right_columns = vec![(item.offset, item.columns.len())];
            let right = self.item_source(scope, next, pushed, width)?;
            source = Source::Join(Box::new(Join {
                kind: JoinKind::Inner,
                left: source,
                right,
                right_columns,
                keys,
                residual: Expr::all(residual),
            }));
            joined.push(next);
        }
        if !multi.is_empty() {
            return Err(Error::internal("a join condition no join covers"));
        }
        Ok(source)
    }

    /// The joins as written (some are outer).
    fn source_of(
        &mut self,
        scope: &mut Scope,
        tree: JoinTree,
        pushed: &mut [Vec<Expr>],
        width: usize,
    ) -> Result<Source> {
        match tree {
            JoinTree::Item(i) => self.item_source(scope, i, pushed, width),
            JoinTree::Join {
                kind,
                left,
                right,
                on,
                first,
                split,
                end,
            } => {
                let side = |e: &Expr| -> Option<bool> {
                    let used = scope.items_of(e);
                    if used.is_empty() {
                        None
                    } else if used.iter().all(|u| (first..split).contains(u)) {
                        Some(true)
                    } else if used.iter().all(|u| (split..end).contains(u)) {
                        Some(false)
                    } else {
                        None
                    }
                };
                // A condition reading only one side that is one stored
                // table is read with it, where that side's rows can only
                // be dropped by it: the inner side of an outer join (a
                // LEFT JOIN's `o_comment NOT LIKE …` in TPC-H Q13), either
                // side of an inner one.
                let pushable = |side: &JoinTree, inner: bool, c: &Expr| match side {
                    JoinTree::Item(i) => {
                        inner
                            && scope.items_of(c) == [*i]
                            && !c.uses_outer()
                            && !runs_per_row(c)
                            && matches!(scope.items[*i].input, Some(ItemInput::Table(_)))
                            && scope.items[*i].probe.is_empty()
                    }
                    JoinTree::Join { .. } => false,
                };
                let left_inner = !kind.keeps_left();
                let right_inner = !kind.keeps_right();
                let mut keys = Vec::new();
                let mut residual = Vec::new();
                for c in on {
                    let into = if pushable(&left, left_inner, &c) {
                        Some(first)
                    } else if pushable(&right, right_inner, &c) {
                        Some(split)
                    } else {
                        None
                    };
                    if let Some(i) = into {
                        pushed[i].push(c);
                        continue;
                    }
                    match &c {
                        Expr::Binary {
                            op: BinaryOp::Eq,
                            left: a,
                            right: b,
                        } => match (side(a), side(b)) {
                            (Some(true), Some(false)) => keys.push((*a.clone(), *b.clone())),
                            (Some(false), Some(true)) => keys.push((*b.clone(), *a.clone())),
                            _ => residual.push(c),
                        },
                        _ => residual.push(c),
                    }
                }
                let right_columns = vec![(scope.items[split].offset, scope.width(split, end))];
                let left = self.source_of(scope, *left, pushed, width)?;
                let right = self.source_of(scope, *right, pushed, width)?;
                if let (Source::Lateral { args, .. }, JoinKind::Right | JoinKind::Full) =
                    (&right, kind)
                {
                    let mut first: Option<usize> = None;
                    for a in args {
                        a.for_each_column(&mut |c| {
                            first.get_or_insert(c);
                        });
                    }
                    let first = first
                        .and_then(|c| scope.item_at(c))
                        .map(|it| it.qualifier.clone());
                    return Err(Error::new(
                        sqlstate::INVALID_COLUMN_REFERENCE,
                        format!(
                            "invalid reference to FROM-clause entry for table \"{}\"",
                            first.unwrap_or_default()
                        ),
                    )
                    .with_detail(
                        "The combining JOIN type must be INNER or LEFT for a LATERAL reference.",
                    ));
                }
                Ok(Source::Join(Box::new(Join {
                    kind,
                    left,
                    right,
                    right_columns,
                    keys,
                    residual: Expr::all(residual),
                })))
            }
        }
    }

    fn bind_relation(&mut self, relation: &ast::TableFactor) -> Result<Scope> {
        refuse_modifiers(relation)?;
        let scope = self
            .bind_relation_as_named(relation)
            .map_err(|e| relation_located(e, relation))?;
        // `SELECT *` and column references find a FROM item's columns by
        // name, so two of one name would read the first twice: refused,
        // not answered wrongly (PostgreSQL allows them, as in
        // `unnest(a, b)`, whose columns are both `unnest`).
        if let (Some(table), Some(_)) = (&scope.table, &scope.series) {
            for (i, c) in table.columns.iter().enumerate() {
                if table.columns[..i].iter().any(|d| d.name == c.name) {
                    return Err(Error::unsupported(format!(
                        "two columns named \"{}\" from a function in FROM",
                        c.name
                    ))
                    .with_hint(format!(
                        "Name its columns apart with an alias: AS {}(a, b).",
                        table.name
                    )));
                }
            }
        }
        Ok(scope)
    }

    /// [`Self::bind_relation`], columns named as the function names them
    /// (alike names allowed: `WITH ORDINALITY` renames them after).
    fn bind_relation_as_named(&mut self, relation: &ast::TableFactor) -> Result<Scope> {
        if let Some(function) = function_factor(relation) {
            return self.bind_relation(&function);
        }
        // `pg_catalog.generate_series(…)`: the built-in functions live in
        // pg_catalog.
        if let ast::TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = relation
        {
            if let [ast::ObjectNamePart::Identifier(schema), bare] = name.0.as_slice() {
                let information_schema_function = ident_name(schema) == "information_schema"
                    && matches!(bare, ast::ObjectNamePart::Identifier(b) if ident_name(b) == "_pg_expandarray");
                if ident_name(schema) == "pg_catalog" || information_schema_function {
                    let mut unqualified = relation.clone();
                    if let ast::TableFactor::Table { name, .. } = &mut unqualified {
                        name.0 = vec![bare.clone()];
                    }
                    return self.bind_relation(&unqualified);
                }
            }
        }
        if let ast::TableFactor::Table {
            args: Some(_),
            with_ordinality: true,
            ..
        } = relation
        {
            return self.bind_ordinality(relation);
        }
        match relation {
            ast::TableFactor::Table {
                name,
                alias,
                args: None,
                with_hints,
                version: None,
                partitions,
                ..
            } if with_hints.is_empty() && partitions.is_empty() => {
                let mut table = self.table(name)?;
                let qualifier = match alias {
                    Some(a) => {
                        if !a.columns.is_empty() {
                            // `t AS x(a, b)`: the first columns renamed.
                            let descs: Vec<ColumnDesc> = table
                                .visible_columns()
                                .map(|(_, c)| ColumnDesc {
                                    name: c.name.clone(),
                                    data_type: c.data_type,
                                    table_oid: 0,
                                    column_id: 0,
                                })
                                .collect();
                            let names = alias_columns(a, &descs)?;
                            let mut renamed = (*table).clone();
                            let visible = renamed.columns.iter_mut().filter(|c| !c.dropped);
                            for (c, (n, _)) in visible.zip(names) {
                                c.name = n;
                            }
                            table = Arc::new(renamed);
                        }
                        ident_name(&a.name)
                    }
                    None => table.name.clone(),
                };
                Ok(Scope {
                    table: Some(table),
                    qualifier: Some(qualifier),
                    ..Scope::default()
                })
            }
            ast::TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } if object_name(name)
                .is_ok_and(|n| n == "generate_series" || n == "pg_catalog.generate_series") =>
            {
                self.bind_series(&args.args, alias.as_ref())
            }
            ast::TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } if object_name(name).is_ok_and(|n| n == ROWS_FROM) => {
                self.bind_rows_from(&args.args, alias.as_ref())
            }
            ast::TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } if object_name(name).is_ok_and(|n| TableFn::named(&n).is_some()) => {
                let name = object_name(name)?;
                self.bind_json_table(&name, &args.args, alias.as_ref())
            }
            ast::TableFactor::Derived { .. } => Err(Error::unsupported("subqueries in FROM")),
            other => Err(Error::unsupported(format!("the FROM item {other}"))),
        }
    }

    /// A set-returning function in FROM besides `generate_series`
    /// (`jsonb_array_elements(doc)`, `unnest(xs)`, `regexp_matches(s, p)`
    /// and the like): its columns, named by PostgreSQL's rules (an alias
    /// names the relation; for a function returning a scalar, also its
    /// one column).
    fn bind_json_table(
        &mut self,
        name: &str,
        args: &[ast::FunctionArg],
        alias: Option<&ast::TableAlias>,
    ) -> Result<Scope> {
        let Some((f, binary)) = TableFn::named(name) else {
            return Err(Error::internal("not a table function"));
        };
        // The name errors show: as the call was written.
        let shown = match f {
            TableFn::ExpandArray { .. } => "information_schema._pg_expandarray",
            _ => name,
        };
        let name = match f {
            TableFn::ExpandArray { .. } => "_pg_expandarray",
            _ => name,
        };
        let empty = Scope::default();
        let mut bound = Vec::new();
        for a in args {
            let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = a else {
                return Err(Error::unsupported(format!("the argument {a}")));
            };
            bound.push(self.bind_expr(e, &empty, &mut Ctx::Row { clause: "FROM" })?);
        }
        // int2vector and oidvector are taken as their arrays, whose
        // subscripts start at 0.
        let lower_bound = match bound.first() {
            Some((_, t)) if t.vector_array().is_some() => 0,
            _ => 1,
        };
        for b in bound.iter_mut() {
            if let Some(array) = b.1.vector_array() {
                b.1 = array;
            }
        }
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        if f.takes_text() {
            // (text, text [, text]), as string_to_array and regexp_match.
            let is_text = |t: &DataType| t.is_string() || *t == DataType::Unknown;
            if !(2..=3).contains(&types.len()) || !types.iter().all(is_text) {
                return Err(no_such_call(shown, &types));
            }
            let mut exprs = Vec::with_capacity(bound.len());
            for (e, t) in bound {
                exprs.push(self.coerce(e, t, DataType::Text)?);
            }
            return function_scope(
                f.columns(DataType::Text, &alias_or(alias, name)),
                alias,
                name,
                (f, exprs),
            );
        }
        if f == TableFn::Subscripts {
            // (anyarray, int4 [, bool]).
            let array = match bound.first() {
                Some((_, DataType::Array(_))) if (2..=3).contains(&bound.len()) => {
                    bound.remove(0).0
                }
                _ => return Err(no_such_call(name, &types)),
            };
            let mut exprs = vec![array];
            for ((e, t), want) in bound.into_iter().zip([DataType::Int4, DataType::Bool]) {
                let ok = t == want
                    || t == DataType::Unknown
                    || (want == DataType::Int4 && t.is_integer());
                if !ok {
                    return Err(no_such_call(name, &types));
                }
                exprs.push(self.coerce(e, t, want)?);
            }
            // (array, dim, reverse, the lower bound).
            if exprs.len() == 2 {
                exprs.push(Expr::Literal(Value::Bool(false)));
            }
            exprs.push(Expr::Literal(Value::Int4(lower_bound)));
            return function_scope(
                f.columns(DataType::Int4, &alias_or(alias, name)),
                alias,
                name,
                (f, exprs),
            );
        }
        if f == TableFn::Unnest && bound.len() > 1 {
            // unnest(a, b, …): the arrays side by side, a column each.
            let mut columns = Vec::with_capacity(bound.len());
            let mut calls = Vec::with_capacity(bound.len());
            for (e, t) in bound {
                let DataType::Array(elem) = t else {
                    return Err(no_such_call(name, &types));
                };
                columns.push((name.to_string(), elem.data_type()));
                calls.push((TableFn::Unnest, vec![e]));
            }
            let mut scope = function_scope(columns, alias, name, (TableFn::Unnest, vec![]))?;
            if let Some(series) = scope.series.as_mut() {
                series.functions = calls;
            }
            return Ok(scope);
        }
        let want = match (f, bound.last()) {
            (TableFn::Unnest, Some((_, t @ DataType::Array(_)))) => *t,
            (TableFn::Unnest, Some((_, DataType::Unknown))) => {
                return Err(Error::new(
                    sqlstate::AMBIGUOUS_FUNCTION,
                    "function unnest(unknown) is not unique",
                )
                .with_hint("Could not choose a best candidate function. You might need to add explicit type casts."))
            }
            (TableFn::ExpandArray { .. }, Some((_, t @ DataType::Array(_)))) => *t,
            (TableFn::ExpandArray { .. }, _) => return Err(no_such_call(shown, &types)),
            _ if binary => DataType::Jsonb,
            _ => DataType::Json,
        };
        let doc = match bound.pop() {
            Some((e, t)) if bound.is_empty() && (t == want || t == DataType::Unknown) => {
                self.coerce(e, t, want)?
            }
            _ => return Err(no_such_call(shown, &types)),
        };
        function_scope(
            f.columns(want, &alias_or(alias, name)),
            alias,
            name,
            (f, vec![doc]),
        )
    }

    /// `f(…) WITH ORDINALITY [AS alias (columns)]`: the function's columns
    /// and a last bigint column `ordinality` numbering its rows from 1.
    fn bind_ordinality(&mut self, relation: &ast::TableFactor) -> Result<Scope> {
        let ast::TableFactor::Table { name, alias, .. } = relation else {
            return Err(Error::internal("WITH ORDINALITY of a non-function"));
        };
        // The function bound alone (named by the alias, whose column list
        // may also name the ordinality column, applied below).
        let mut plain = relation.clone();
        if let ast::TableFactor::Table {
            with_ordinality,
            alias,
            ..
        } = &mut plain
        {
            *with_ordinality = false;
            if let Some(a) = alias {
                a.columns.clear();
            }
        }
        let scope = self.bind_relation_as_named(&plain)?;
        let (Some(table), Some(series)) = (scope.table, scope.series) else {
            return Err(Error::unsupported(format!("WITH ORDINALITY on {name}")));
        };
        let mut calls = match series.functions.is_empty() {
            true => vec![series_call(series)],
            false => series.functions,
        };
        calls.push((TableFn::Ordinality, vec![]));
        let mut columns: Vec<(String, DataType)> = table
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type))
            .collect();
        columns.push(("ordinality".to_string(), DataType::Int8));
        let shown = object_name(name)?;
        if let Some(a) = alias.as_ref().filter(|a| a.columns.len() > columns.len()) {
            return Err(Error::new(
                sqlstate::INVALID_COLUMN_REFERENCE,
                format!(
                    "table \"{}\" has {} columns available but {} columns specified",
                    ident_name(&a.name),
                    columns.len(),
                    a.columns.len()
                ),
            ));
        }
        let mut scope = function_scope(columns, alias.as_ref(), &shown, (TableFn::Unnest, vec![]))?;
        if let Some(series) = scope.series.as_mut() {
            series.functions = calls;
        }
        Ok(scope)
    }

    /// `ROWS FROM (f(…), g(…))`, what several set-returning calls of a
    /// select list become (`srf_as_lateral`): each function bound as in
    /// FROM, their columns side by side, named by the alias.
    fn bind_rows_from(
        &mut self,
        args: &[ast::FunctionArg],
        alias: Option<&ast::TableAlias>,
    ) -> Result<Scope> {
        let mut calls = Vec::with_capacity(args.len());
        let mut columns = Vec::new();
        for a in args {
            let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Function(call))) =
                a
            else {
                return Err(no_such_call(ROWS_FROM, &[]));
            };
            let factor = ast::TableFactor::Function {
                lateral: false,
                name: call.name.clone(),
                args: match &call.args {
                    ast::FunctionArguments::List(list) => list.args.clone(),
                    _ => vec![],
                },
                alias: None,
            };
            let scope = self.bind_relation(&factor)?;
            let (Some(table), Some(series)) = (scope.table, scope.series) else {
                return Err(Error::internal("ROWS FROM of a non-function"));
            };
            columns.extend(table.columns.iter().map(|c| (c.name.clone(), c.data_type)));
            if series.functions.is_empty() {
                calls.push(series_call(series));
            } else {
                calls.extend(series.functions);
            }
        }
        let name = "rows_from";
        let mut scope = function_scope(columns, alias, name, (TableFn::Unnest, vec![]))?;
        if let Some(series) = scope.series.as_mut() {
            series.functions = calls;
        }
        Ok(scope)
    }

    /// `generate_series(start, stop [, step])` over integers, as a relation
    /// of one column named by its alias (PostgreSQL's rule for a function
    /// returning a scalar).
    fn bind_series(
        &mut self,
        args: &[ast::FunctionArg],
        alias: Option<&ast::TableAlias>,
    ) -> Result<Scope> {
        let empty = Scope::default();
        let mut bound = Vec::new();
        for a in args {
            let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = a else {
                return Err(Error::unsupported(format!("the argument {a}")));
            };
            // No type hint: an open parameter takes its type from the
            // overload the others pick (int4 when none does).
            bound.push(self.bind_expr(e, &empty, &mut Ctx::Row { clause: "FROM" })?);
        }
        let types: Vec<DataType> = bound.iter().map(|(_, t)| *t).collect();
        let Some((data_type, step_type)) = series_signature(&types) else {
            return Err(no_such_call("generate_series", &types));
        };
        let mut exprs = Vec::new();
        for (i, (e, t)) in bound.into_iter().enumerate() {
            let to = if i == 2 { step_type } else { data_type };
            exprs.push(self.coerce(e, t, to)?);
        }
        let step = if exprs.len() == 3 { exprs.pop() } else { None };
        let stop = exprs
            .pop()
            .ok_or_else(|| Error::internal("generate_series stop"))?;
        let start = exprs
            .pop()
            .ok_or_else(|| Error::internal("generate_series start"))?;
        let (qualifier, column) = match alias {
            Some(a) => {
                let q = ident_name(&a.name);
                let c = match a.columns.as_slice() {
                    [] => q.clone(),
                    [one] => ident_name(&one.name),
                    _ => {
                        return Err(Error::syntax(
                            "too many column aliases specified for function generate_series",
                        ))
                    }
                };
                (q, c)
            }
            None => ("generate_series".to_string(), "generate_series".to_string()),
        };
        let def = TableDef {
            id: 0,
            name: qualifier.clone(),
            schema: tessera_types::schema::PG_CATALOG,
            columns: vec![ColumnDef::new(column, data_type, false)],
            primary_key: vec![],
            sharding_key: vec![],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        Ok(Scope {
            table: Some(Arc::new(def)),
            qualifier: Some(qualifier),
            series: Some(crate::plan::SeriesScan {
                start,
                stop,
                step,
                data_type,
                functions: vec![],
            }),
            ..Scope::default()
        })
    }

    fn describe(&self, e: &ast::Expr, name: &str, t: DataType, scope: &Scope) -> ColumnDesc {
        if !scope.items.is_empty() {
            let resolved = match e {
                ast::Expr::Identifier(i) => scope.resolve_expr(None, &ident_name(i)).ok(),
                ast::Expr::CompoundIdentifier(p) if p.len() == 2 => scope
                    .resolve_expr(Some(&ident_name(&p[0])), &ident_name(&p[1]))
                    .ok(),
                _ => None,
            };
            if let Some((Expr::Column(c), _)) = resolved {
                if let Some(item) = scope.item_at(c) {
                    if let Some(ItemInput::Table(table)) = &item.input {
                        let i = c - item.offset;
                        return ColumnDesc {
                            name: name.to_string(),
                            data_type: table.columns[i].data_type,
                            table_oid: table_oid(table),
                            column_id: i as i16 + 1,
                        };
                    }
                }
            }
            return ColumnDesc {
                name: name.to_string(),
                data_type: t,
                table_oid: 0,
                column_id: 0,
            };
        }
        let column = match e {
            ast::Expr::Identifier(i) => scope.resolve(None, &ident_name(i)).ok(),
            ast::Expr::CompoundIdentifier(p) if p.len() == 2 => scope
                .resolve(Some(&ident_name(&p[0])), &ident_name(&p[1]))
                .ok(),
            _ => None,
        };
        match (column, &scope.table) {
            (Some((i, _)), Some(table)) if scope.series.is_none() => ColumnDesc {
                name: name.to_string(),
                data_type: table.columns[i].data_type,
                table_oid: table_oid(table),
                column_id: i as i16 + 1,
            },
            _ => ColumnDesc {
                name: name.to_string(),
                data_type: t,
                table_oid: 0,
                column_id: 0,
            },
        }
    }

    /// Converts for storing into a column (assignment cast).
    fn assign(&mut self, e: Expr, from: DataType, column: &ColumnDef) -> Result<Expr> {
        let to = column.data_type;
        if !to.assignable_from(from) {
            return Err(Error::datatype_mismatch(format!(
                "column \"{}\" is of type {} but expression is of type {}",
                column.name,
                self.type_name(to),
                self.type_name(from)
            ))
            .with_hint("You will need to rewrite or cast the expression."));
        }
        if let DataType::Enum(oid) = to {
            return self.enum_in(e, from, oid);
        }
        if let DataType::Array(Elem::Enum(oid)) = to {
            return self.enum_array_in(e, from, oid);
        }
        if let Expr::Param(i) = e {
            if from == DataType::Unknown {
                self.param(i, Some(to));
            }
        }
        match e {
            Expr::Literal(v) => Ok(Expr::Literal(v.cast_with(to, false, &self.time)?)),
            e if from == to
                && !matches!(to, DataType::Numeric(Some(_)) | DataType::Varchar(Some(_))) =>
            {
                Ok(e)
            }
            e => Ok(Expr::Cast {
                expr: Box::new(e),
                to,
                explicit: false,
            }),
        }
    }

    fn bind_insert(&mut self, ins: &ast::Insert) -> Result<InsertPlan> {
        let ast::TableObject::TableName(name) = &ins.table else {
            return Err(Error::unsupported("INSERT into a table function"));
        };
        self.refuse_information_schema_write(name, "insert into")?;
        let table = self.table(name).map_err(|e| match name.0.first() {
            Some(ast::ObjectNamePart::Identifier(first)) if e.code == sqlstate::UNDEFINED_TABLE => {
                located_at(e, first)
            }
            _ => e,
        })?;
        let positions: Vec<usize> = if ins.columns.is_empty() {
            table.visible_columns().map(|(i, _)| i).collect()
        } else {
            let names = ins.columns.iter().map(|c| Ok(ident_name(c)));
            distinct_columns(&table, names, |n| {
                format!("column \"{n}\" specified more than once")
            })?
        };
        let rows_ast: Vec<Vec<ast::Expr>> = match &ins.source {
            None => vec![vec![]],
            Some(q) => match &*q.body {
                ast::SetExpr::Values(v)
                    if q.order_by.is_none() && q.limit_clause.is_none() && q.with.is_none() =>
                {
                    v.rows.clone()
                }
                _ => return self.bind_insert_select(table, &positions, !ins.columns.is_empty(), q),
            },
        };
        let scope = Scope::default();
        let defaults = self.column_defaults(&table)?;
        let mut rows = Vec::with_capacity(rows_ast.len());
        for r in &rows_ast {
            if ins.source.is_some() && r.len() > positions.len() {
                return Err(Error::syntax(
                    "INSERT has more expressions than target columns",
                ));
            }
            if ins.source.is_some() && r.len() < positions.len() && !ins.columns.is_empty() {
                return Err(Error::syntax(
                    "INSERT has more target columns than expressions",
                ));
            }
            let mut row: Vec<Expr> = defaults.clone();
            for (e, &pos) in r.iter().zip(&positions) {
                let column = &table.columns[pos];
                if is_default(e) {
                    continue;
                }
                generated_always(column, false)?;
                let (x, t) = self.bind_expr_hint(
                    e,
                    &scope,
                    &mut Ctx::Row { clause: "VALUES" },
                    Some(column.data_type),
                )?;
                row[pos] = self.assign(x, t, column)?;
            }
            rows.push(row);
        }
        let checks = self.table_checks(&table)?;
        Ok(InsertPlan {
            table,
            rows,
            select: None,
            returning: vec![],
            on_conflict: None,
            arbiters: Default::default(),
            checks,
        })
    }

    /// INSERT … SELECT: the query's columns, assigned to `positions` in
    /// order (with assignment casts); the other columns are NULL.
    fn bind_insert_select(
        &mut self,
        table: Arc<TableDef>,
        positions: &[usize],
        named: bool,
        q: &ast::Query,
    ) -> Result<InsertPlan> {
        let (select, columns) = self.bind_query(q)?;
        if columns.len() > positions.len() {
            return Err(Error::syntax(
                "INSERT has more expressions than target columns",
            ));
        }
        if columns.len() < positions.len() && named {
            return Err(Error::syntax(
                "INSERT has more target columns than expressions",
            ));
        }
        let mut row: Vec<Expr> = self.column_defaults(&table)?;
        for (i, (c, &pos)) in columns.iter().zip(positions).enumerate() {
            generated_always(&table.columns[pos], false)?;
            row[pos] = self.assign(Expr::Column(i), c.data_type, &table.columns[pos])?;
        }
        let checks = self.table_checks(&table)?;
        Ok(InsertPlan {
            table,
            rows: vec![row],
            select: Some(Arc::new(Plan::Select(Box::new(select)))),
            returning: vec![],
            on_conflict: None,
            arbiters: Default::default(),
            checks,
        })
    }

    /// INSERT, UPDATE or DELETE: its plan, its RETURNING columns and
    /// whether it returns rows.
    fn bind_dml(&mut self, statement: &ast::Statement) -> Result<(Plan, Vec<ColumnDesc>, bool)> {
        use ast::Statement as S;
        Ok(match statement {
            S::Insert(insert) => {
                let mut plan = self.bind_insert(insert)?;
                if let Some(on) = &insert.on {
                    let (action, arbiters) =
                        self.bind_on_conflict(on, &plan.table, insert.table_alias.as_ref())?;
                    plan.on_conflict = Some(Arc::new(action));
                    plan.arbiters = arbiters;
                }
                let qualifier = match &insert.table_alias {
                    Some(a) => ident_name(a),
                    None => plan.table.name.clone(),
                };
                let scope = Scope {
                    table: Some(plan.table.clone()),
                    qualifier: Some(qualifier),
                    ..Scope::default()
                };
                let descs =
                    self.bind_returning(insert.returning.as_deref(), &scope, &mut plan.returning)?;
                let returns = !descs.is_empty();
                (Plan::Insert(plan), descs, returns)
            }
            S::Update {
                table,
                assignments,
                from,
                selection,
                returning,
                ..
            } => {
                let from = match from {
                    Some(
                        ast::UpdateTableFromKind::AfterSet(items)
                        | ast::UpdateTableFromKind::BeforeSet(items),
                    ) => items.as_slice(),
                    None => &[],
                };
                let (mut plan, scope) =
                    self.bind_update(table, assignments, from, selection.as_ref())?;
                let descs =
                    self.bind_returning(returning.as_deref(), &scope, &mut plan.returning)?;
                let returns = !descs.is_empty();
                (Plan::Update(plan), descs, returns)
            }
            S::Delete(delete) => {
                let (mut plan, scope) = self.bind_delete(delete)?;
                let descs =
                    self.bind_returning(delete.returning.as_deref(), &scope, &mut plan.returning)?;
                let returns = !descs.is_empty();
                (Plan::Delete(plan), descs, returns)
            }
            other => return Err(Error::unsupported(format!("the statement {other}"))),
        })
    }

    /// ON CONFLICT: the action and its arbiters, the unique constraints
    /// it decides on: the one its columns or constraint name (or, for DO
    /// NOTHING without either, every one). DO UPDATE's expressions read
    /// the existing row (by the table's name or alias) and the proposed
    /// one (`excluded`).
    fn bind_on_conflict(
        &mut self,
        on: &ast::OnInsert,
        table: &Arc<TableDef>,
        alias: Option<&ast::Ident>,
    ) -> Result<(OnConflict, Arbiters)> {
        let ast::OnInsert::OnConflict(on) = on else {
            return Err(Error::unsupported("ON DUPLICATE KEY UPDATE"));
        };
        let sorted = |columns: &[usize]| {
            let mut c = columns.to_vec();
            c.sort_unstable();
            c.dedup();
            c
        };
        let unique: Vec<Arc<tessera_types::IndexDef>> = self
            .catalog
            .indexes_of(table.id)
            .filter(|ix| ix.unique)
            .cloned()
            .collect();
        let has_key = !table.primary_key.is_empty();
        let arbiters = match &on.conflict_target {
            Some(ast::ConflictTarget::Columns(cols)) => {
                let mut named: Vec<usize> = Vec::new();
                for c in cols {
                    let n = ident_name(c);
                    named.push(
                        table
                            .column_index(&n)
                            .ok_or_else(|| undefined_column(None, &n))?,
                    );
                }
                let named = sorted(&named);
                let arbiters = Arbiters {
                    primary_key: has_key && sorted(&table.primary_key) == named,
                    indexes: unique
                        .iter()
                        .filter(|ix| sorted(&ix.columns) == named)
                        .map(|ix| ix.name.clone())
                        .collect(),
                };
                if !arbiters.primary_key && arbiters.indexes.is_empty() {
                    return Err(Error::new(
                        sqlstate::INVALID_COLUMN_REFERENCE,
                        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                    ));
                }
                arbiters
            }
            Some(ast::ConflictTarget::OnConstraint(name)) => {
                let n = object_name(name)?;
                if has_key && n == format!("{}_pkey", table.name) {
                    Arbiters {
                        primary_key: true,
                        indexes: vec![],
                    }
                } else if unique.iter().any(|ix| ix.constraint && ix.name == n) {
                    Arbiters {
                        primary_key: false,
                        indexes: vec![n],
                    }
                } else {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!(
                            "constraint \"{n}\" for table \"{}\" does not exist",
                            table.name
                        ),
                    ));
                }
            }
            None if matches!(on.action, ast::OnConflictAction::DoUpdate(_)) => {
                return Err(Error::syntax(
                    "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                )
                .with_hint("For example, ON CONFLICT (column_name)."))
            }
            None => Arbiters {
                primary_key: has_key,
                indexes: unique.iter().map(|ix| ix.name.clone()).collect(),
            },
        };
        let ast::OnConflictAction::DoUpdate(update) = &on.action else {
            return Ok((OnConflict::Nothing, arbiters));
        };
        // The existing row, then the proposed one as `excluded` (a bare
        // column name is ambiguous between them, as in PostgreSQL).
        let width = table.columns.len();
        let columns: Vec<(String, DataType)> = table
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type))
            .collect();
        let item = |qualifier: String, offset: usize| ScopeItem {
            qualifier,
            columns: columns.clone(),
            hidden: vec![false; width],
            offset,
            input: None,
            nullable: false,
            probe: Vec::new(),
            scalar_function: false,
            catalog_oid: None,
        };
        let qualifier = alias.map_or_else(|| table.name.clone(), ident_name);
        let scope = Scope {
            items: vec![item(qualifier, 0), item("excluded".into(), width)],
            ..Scope::default()
        };
        let mut assignments = Vec::new();
        for a in &expand_assignments(&update.assignments)? {
            let c = assignment_column(table, a)?;
            if table.primary_key.contains(&c) {
                return Err(Error::unsupported(
                    "ON CONFLICT DO UPDATE of a primary-key column",
                ));
            }
            let column = &table.columns[c];
            let (x, t) = self.bind_expr_hint(
                &a.value,
                &scope,
                &mut Ctx::Row { clause: "UPDATE" },
                Some(column.data_type),
            )?;
            assignments.push((c, self.assign(x, t, column)?));
        }
        let filter = self.bind_where(update.selection.as_ref(), &scope)?;
        Ok((
            OnConflict::Update {
                assignments,
                filter,
            },
            arbiters,
        ))
    }

    /// `q.*` over the FROM items of `scope`: each column of item `q`, named.
    fn qualified_star(
        &mut self,
        kind: &ast::SelectItemQualifiedWildcardKind,
        scope: &Scope,
    ) -> Result<Vec<(ast::Expr, String)>> {
        let q = match kind {
            ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                self.column_qualifier(&name_parts(n)?, scope)?
            }
            other => return Err(Error::unsupported(format!("{other}.*"))),
        };
        let item = scope.item_named(&q)?;
        Ok(item
            .columns
            .iter()
            .enumerate()
            .map(|(k, (c, _))| (star_ref(&item.qualifier, &item.columns, k), c.clone()))
            .collect())
    }

    /// RETURNING: expressions over the written row (`*` is its columns),
    /// into `exprs`; the result's columns.
    fn bind_returning(
        &mut self,
        items: Option<&[ast::SelectItem]>,
        scope: &Scope,
        exprs: &mut Vec<Expr>,
    ) -> Result<Vec<ColumnDesc>> {
        let Some(items) = items else {
            return Ok(vec![]);
        };
        let mut list: Vec<(ast::Expr, String)> = Vec::new();
        for item in items {
            match item {
                ast::SelectItem::UnnamedExpr(e) => list.push((e.clone(), column_name(e))),
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    list.push((expr.clone(), ident_name(alias)))
                }
                ast::SelectItem::Wildcard(_) if !scope.items.is_empty() => {
                    list.extend(scope.star.iter().cloned())
                }
                // `RETURNING t.*` of an UPDATE … FROM or DELETE … USING.
                ast::SelectItem::QualifiedWildcard(kind, _) if !scope.items.is_empty() => {
                    list.extend(self.qualified_star(kind, scope)?)
                }
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    for (_, c) in scope.table.iter().flat_map(|t| t.visible_columns()) {
                        list.push((ast::Expr::Identifier(quoted(&c.name)), c.name.clone()));
                    }
                }
            }
        }
        let mut descs = Vec::with_capacity(list.len());
        for (e, name) in &list {
            let (x, t) = self.bind_expr(
                e,
                scope,
                &mut Ctx::Row {
                    clause: "RETURNING",
                },
            )?;
            let t = if t == DataType::Unknown {
                DataType::Text
            } else {
                t
            };
            descs.push(self.describe(e, name, t, scope));
            exprs.push(x);
        }
        Ok(descs)
    }

    fn single_table(&mut self, t: &ast::TableWithJoins) -> Result<Scope> {
        if !t.joins.is_empty() {
            return Err(Error::unsupported("JOIN"));
        }
        self.bind_relation(&t.relation)
    }

    fn bind_where(&mut self, selection: Option<&ast::Expr>, scope: &Scope) -> Result<Option<Expr>> {
        match selection {
            Some(w) => {
                let (f, t) = self.bind_expr(w, scope, &mut Ctx::Row { clause: "WHERE" })?;
                if t != DataType::Bool && t != DataType::Unknown {
                    return Err(Error::datatype_mismatch(format!(
                        "argument of WHERE must be type boolean, not type {t}"
                    )));
                }
                Ok(Some(self.coerce(f, t, DataType::Bool)?))
            }
            None => Ok(None),
        }
    }

    /// UPDATE; also the scope RETURNING reads (with FROM: the target row
    /// and the row joined to it).
    fn bind_update(
        &mut self,
        table: &ast::TableWithJoins,
        assignments: &[ast::Assignment],
        from: &[ast::TableWithJoins],
        selection: Option<&ast::Expr>,
    ) -> Result<(UpdatePlan, Scope)> {
        if let ast::TableFactor::Table { name, .. } = &table.relation {
            self.refuse_information_schema_write(name, "update")?;
        }
        let scope = self.single_table(table)?;
        let Some(def) = scope.table.clone() else {
            return Err(Error::internal("UPDATE without a table"));
        };
        let (joined, scope) = match from {
            [] => (None, scope),
            items => {
                let (joined, wide) = self.bind_joined_rows(&scope, items, selection)?;
                (Some(joined), wide)
            }
        };
        let mut bound = Vec::new();
        for a in &expand_assignments(assignments)? {
            let i = assignment_column(&def, a)?;
            let n = &def.columns[i].name;
            if bound.iter().any(|(c, _)| *c == i) {
                return Err(Error::syntax(format!(
                    "multiple assignments to same column \"{n}\""
                )));
            }
            if is_default(&a.value) {
                let d = self.column_default(def.schema, &def.columns[i])?;
                bound.push((i, d));
                continue;
            }
            generated_always(&def.columns[i], true)?;
            let (x, t) = self.bind_expr_hint(
                &a.value,
                &scope,
                &mut Ctx::Row { clause: "UPDATE" },
                Some(def.columns[i].data_type),
            )?;
            bound.push((i, self.assign(x, t, &def.columns[i])?));
        }
        // With FROM the WHERE clause is the join's: every row is a candidate.
        let filter = match joined {
            None => self.bind_where(selection, &scope)?,
            Some(_) => None,
        };
        let (target, primary_key) = route(&def, filter.as_ref());
        let index = match primary_key {
            None => choose_index(self.catalog, &def, filter.as_ref(), None, false, None),
            Some(_) => None,
        };
        let checks = self.table_checks(&def)?;
        // Rows whose key may change move (delete, then insert under the
        // new key); so do rows whose referenced values change, which the
        // router must see before and after.
        let referenced: Vec<usize> = self
            .catalog
            .referencing(def.id)
            .into_iter()
            .flat_map(|(_, fk)| fk.parent_columns)
            .collect();
        let moves = bound.iter().any(|(c, _)| {
            (!def.has_row_id() && def.primary_key.contains(c))
                || def.sharding_key.contains(c)
                || referenced.contains(c)
        });
        let plan = UpdatePlan {
            moves,
            checks,
            returning: vec![],
            joined,
            table: def,
            target,
            primary_key,
            index,
            filter,
            assignments: bound,
        };
        Ok((plan, scope))
    }

    /// UPDATE … FROM / DELETE … USING: a query of the other items' columns
    /// under the WHERE clause, bound with the target row as its enclosing
    /// row (so `f.id = t.id` becomes a probe of `f`'s gathered rows); and
    /// the scope of `[target row…, joined row…]`.
    fn bind_joined_rows(
        &mut self,
        target: &Scope,
        items: &[ast::TableWithJoins],
        selection: Option<&ast::Expr>,
    ) -> Result<(JoinedRows, Scope)> {
        let (Some(def), Some(target_name)) = (&target.table, &target.qualifier) else {
            return Err(Error::internal("a write without a target table"));
        };
        // The other items' names and columns (bound once for them only).
        let mark = self.init.len();
        let names = self.bind_from(items)?;
        self.init.truncate(mark);
        let listed: Vec<(String, Vec<(String, DataType)>)> = match (&names.table, &names.qualifier)
        {
            (Some(t), Some(q)) if names.items.is_empty() => vec![(
                q.clone(),
                t.columns
                    .iter()
                    .map(|c| (c.name.clone(), c.data_type))
                    .collect(),
            )],
            _ => names
                .items
                .iter()
                .map(|it| (it.qualifier.clone(), it.columns.clone()))
                .collect(),
        };
        if let Some((q, _)) = listed.iter().find(|(q, _)| q == target_name) {
            return Err(Error::new(
                sqlstate::DUPLICATE_ALIAS,
                format!("table name \"{q}\" specified more than once"),
            ));
        }
        let template = crate::parser::parse("SELECT 1 LIMIT 1")?;
        let ast::Statement::Query(mut query) = template[0].statement.clone() else {
            return Err(Error::internal("a query template that is not a query"));
        };
        let ast::SetExpr::Select(select) = &mut *query.body else {
            return Err(Error::internal("a query template that is not a SELECT"));
        };
        select.from = items.to_vec();
        select.selection = selection.cloned();
        select.projection = listed
            .iter()
            .map(|(q, _)| {
                ast::SelectItem::QualifiedWildcard(
                    ast::SelectItemQualifiedWildcardKind::ObjectName(ast::ObjectName(vec![
                        ast::ObjectNamePart::Identifier(quoted(q)),
                    ])),
                    Default::default(),
                )
            })
            .collect();
        let (rows, args, _) =
            self.bind_subquery(&query, target, &mut Ctx::Row { clause: "WHERE" })?;
        // [target row…, joined row…], each item at its place.
        let mut wide = Scope::default();
        let mut offset = 0;
        let target_columns = def.columns.iter().map(|c| (c.name.clone(), c.data_type));
        for (q, columns) in
            std::iter::once((target_name.clone(), target_columns.collect())).chain(listed)
        {
            let width = columns.len();
            for (c, _) in columns.iter().filter(|(c, _)| !is_dropped_name(c)) {
                wide.star.push((column_ref(&q, c), c.clone()));
            }
            wide.items.push(ScopeItem {
                qualifier: q,
                hidden: vec![false; width],
                columns,
                offset,
                input: None,
                nullable: false,
                probe: Vec::new(),
                scalar_function: false,
                catalog_oid: None,
            });
            offset += width;
        }
        Ok((JoinedRows { query: rows, args }, wide))
    }

    /// DELETE; also the scope RETURNING reads (with USING: the target
    /// row and the row joined to it).
    fn bind_delete(&mut self, d: &ast::Delete) -> Result<(DeletePlan, Scope)> {
        if !d.order_by.is_empty() || d.limit.is_some() || !d.tables.is_empty() {
            return Err(Error::unsupported("this form of DELETE"));
        }
        let tables = match &d.from {
            ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
        };
        let [table] = tables.as_slice() else {
            return Err(Error::unsupported("DELETE from several tables"));
        };
        if let ast::TableFactor::Table { name, .. } = &table.relation {
            self.refuse_information_schema_write(name, "delete from")?;
        }
        let scope = self.single_table(table)?;
        let Some(def) = scope.table.clone() else {
            return Err(Error::internal("DELETE without a table"));
        };
        let (joined, scope, filter) = match d.using.as_deref() {
            None | Some([]) => {
                let filter = self.bind_where(d.selection.as_ref(), &scope)?;
                (None, scope, filter)
            }
            Some(items) => {
                let (joined, wide) = self.bind_joined_rows(&scope, items, d.selection.as_ref())?;
                (Some(joined), wide, None)
            }
        };
        let (target, primary_key) = route(&def, filter.as_ref());
        let index = match primary_key {
            None => choose_index(self.catalog, &def, filter.as_ref(), None, false, None),
            Some(_) => None,
        };
        let plan = DeletePlan {
            returning: vec![],
            joined,
            table: def,
            target,
            primary_key,
            index,
            filter,
        };
        Ok((plan, scope))
    }

    /// `DROP CONSTRAINT <the primary key>`, or `DROP COLUMN` of a column
    /// of the primary key (which drops the key with it, as in
    /// PostgreSQL), alone in their ALTER TABLE: the table is rewritten
    /// keyed by hidden row ids ([`Plan::RewriteTable`] with no key),
    /// the column then dropped. `None` for other changes.
    fn bind_drop_key(
        &mut self,
        table: &Arc<TableDef>,
        operations: &[ast::AlterTableOperation],
    ) -> Result<Option<Plan>> {
        use ast::AlterTableOperation as Op;
        if table.has_row_id() || table.sharding_key != table.primary_key {
            return Ok(None);
        }
        let then_drop = match operations {
            [Op::DropConstraint { name, .. }]
                if ident_name(name) == format!("{}_pkey", table.name) =>
            {
                None
            }
            [Op::DropColumn {
                column_names,
                if_exists: false,
                ..
            }] if column_names.len() == 1 => {
                let n = ident_name(&column_names[0]);
                match table.columns.iter().position(|c| c.name == n && !c.dropped) {
                    Some(c) if table.primary_key.contains(&c) => Some(n),
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        // Foreign keys that reference the key depend on it.
        let mut key = table.primary_key.clone();
        key.sort_unstable();
        let dependent = self
            .catalog
            .referencing(table.id)
            .into_iter()
            .find(|(_, fk)| {
                let mut cols = fk.parent_columns.clone();
                cols.sort_unstable();
                cols == key
            });
        if let Some((child, fk)) = dependent {
            let pkey = format!("{}_pkey", table.name);
            return Err(Error::new(
                sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop constraint {pkey} on table {} because other objects depend on it",
                    table.name
                ),
            )
            .with_detail(format!(
                "constraint {} on table {} depends on index {pkey}",
                fk.name, child.name
            ))
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        if then_drop.is_some() {
            // The drop must go through once the key is gone (a view that
            // reads the column refuses it): checked now, so that nothing
            // is rewritten for a change that then fails.
            let mut keyless = (**table).clone();
            keyless.primary_key.clear();
            keyless.sharding_key.clear();
            let init = std::mem::take(&mut self.init);
            let checked = self.bind_alter_catalog(Arc::new(keyless), operations);
            self.init = init;
            // Views that read the column refuse the drop without CASCADE
            // (decided when a drop runs; here before anything is rewritten).
            if let Plan::AlterTable(change) = checked? {
                let refused = change
                    .dropped
                    .iter()
                    .find(|d| !d.cascade && !d.views.is_empty());
                if let Some(d) = refused {
                    let column = &table.columns[d.column].name;
                    let view = self
                        .catalog
                        .view_by_id(d.views[0])
                        .map_or_else(String::new, |v| v.name.clone());
                    return Err(Error::new(
                        sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!(
                            "cannot drop column {column} of table {} because other objects depend on it",
                            table.name
                        ),
                    )
                    .with_detail(format!(
                        "view {view} depends on column {column} of table {}",
                        table.name
                    ))
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                }
            }
        }
        Ok(Some(rekeyed(table, vec![], then_drop)))
    }

    /// ALTER TABLE (also of a view, sequence or index, as PostgreSQL
    /// allows) … OWNER TO: every relation is owned by the bootstrap
    /// administrator, so naming it changes nothing (pg_dump's output names
    /// it after each object); another role is 0A000.
    fn bind_owner_to(
        &mut self,
        name: &ast::ObjectName,
        owner: &ast::Owner,
        if_exists: bool,
    ) -> Result<Plan> {
        let q = self.qualified(name)?;
        let schema = match self.schema_of(&q) {
            Ok(s) => s,
            Err(e) if e.code == sqlstate::INVALID_SCHEMA_NAME => None,
            Err(e) => return Err(e),
        };
        if !schema.is_some_and(|s| self.catalog.relation_exists(s, &q.name)) {
            let missing = format!("relation \"{}\" does not exist", q.shown());
            if if_exists {
                return Ok(Plan::Skipped {
                    tag: "ALTER TABLE".into(),
                    notice: Some(format!("{missing}, skipping")),
                });
            }
            return Err(Error::new(sqlstate::UNDEFINED_TABLE, missing));
        }
        let ast::Owner::Ident(role) = owner else {
            return Err(Error::unsupported(format!("OWNER TO {owner}")));
        };
        self.owner_unchanged(role, "ALTER TABLE", &q.name)
    }

    /// `… OWNER TO role` of an existing object named `what`: every object
    /// belongs to the administrator, so naming it changes nothing (what
    /// pg_dump writes); another role is refused (0A000), a missing one 42704.
    fn owner_unchanged(&self, role: &ast::Ident, tag: &str, what: &str) -> Result<Plan> {
        let role = ident_name(role);
        match self.catalog.role(&role) {
            None => Err(Error::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("role \"{role}\" does not exist"),
            )),
            Some(r) if r.id == crate::system::SUPERUSER_OID => Ok(Plan::Skipped {
                tag: tag.into(),
                notice: None,
            }),
            Some(_) => Err(Error::unsupported(format!(
                "changing the owner of \"{what}\" to a role other than the administrator"
            ))),
        }
    }

    /// ALTER TYPE or ALTER DOMAIN … OWNER TO: the type must exist (and be
    /// a domain for ALTER DOMAIN, as in PostgreSQL).
    fn bind_type_owner(&self, change: &crate::parser::OwnerChange) -> Result<Plan> {
        let def = self.domain_by_name(&change.name)?;
        if change.domain && def.domain.is_none() {
            return Err(Error::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!("{} is not a domain", def.name),
            ));
        }
        let tag = if change.domain {
            "ALTER DOMAIN"
        } else {
            "ALTER TYPE"
        };
        self.owner_unchanged(&change.role, tag, &def.name)
    }

    /// ALTER INDEX `name` RENAME TO `new_name` (in the index's schema,
    /// whatever schema `new_name` names, as PostgreSQL does).
    fn bind_rename_index(
        &mut self,
        name: &ast::ObjectName,
        new_name: &ast::ObjectName,
    ) -> Result<Plan> {
        let q = self.qualified(name)?;
        let index = match self.schema_of(&q)? {
            Some(schema) => self.catalog.index(schema, &q.name),
            None => None,
        };
        let Some(index) = index else {
            let schema = self.schema_of(&q)?;
            if schema.is_some_and(|s| self.catalog.relation_exists(s, &q.name)) {
                return Err(Error::new(
                    sqlstate::WRONG_OBJECT_TYPE,
                    format!("\"{}\" is not an index", q.name),
                ));
            }
            return Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{}\" does not exist", q.shown()),
            ));
        };
        let name = self.qualified(new_name)?.name;
        Ok(Plan::RenameIndex {
            storage: index.storage.id,
            name,
            of_table: false,
        })
    }

    fn bind_alter_table(
        &mut self,
        name: &ast::ObjectName,
        operations: &[ast::AlterTableOperation],
    ) -> Result<Plan> {
        let table = self.ddl_table(name)?;
        if let Some(plan) = self.bind_drop_key(&table, operations)? {
            return Ok(plan);
        }
        // RENAME CONSTRAINT of a UNIQUE constraint: its index's name.
        if let [ast::AlterTableOperation::RenameConstraint { old_name, new_name }] = operations {
            let old = ident_name(old_name);
            if let Some(index) = self
                .catalog
                .indexes_of(table.id)
                .find(|i| i.constraint && i.name == old)
            {
                return Ok(Plan::RenameIndex {
                    storage: index.storage.id,
                    name: ident_name(new_name),
                    of_table: true,
                });
            }
        }
        if let [ast::AlterTableOperation::SetOptionsParens { options }] = operations {
            return self.bind_set_tier(&table, options);
        }
        let [ast::AlterTableOperation::AddConstraint {
            constraint: ast::TableConstraint::PrimaryKey { columns, .. },
            ..
        }] = operations
        else {
            return self.bind_alter_catalog(table, operations);
        };
        if !table.has_row_id() {
            return Err(Error::new(
                sqlstate::INVALID_TABLE_DEFINITION,
                format!(
                    "multiple primary keys for table \"{}\" are not allowed",
                    table.name
                ),
            ));
        }
        let key = distinct_columns(&table, columns.iter().map(key_column_name), |n| {
            format!("column \"{n}\" appears twice in primary key constraint")
        })?;
        Ok(rekeyed(&table, key, None))
    }

    /// ALTER TABLE … SET (tier = …) (with other storage parameters, which
    /// are checked as CREATE TABLE checks them and mean nothing here): the
    /// table is rewritten into the tier. Alone in its ALTER TABLE.
    fn bind_set_tier(&self, table: &Arc<TableDef>, options: &[ast::SqlOption]) -> Result<Plan> {
        let unchanged = Plan::Skipped {
            tag: "ALTER TABLE".into(),
            notice: None,
        };
        let Some(name) = storage_parameters(options)? else {
            return Ok(unchanged);
        };
        if table.global {
            return Err(Error::new(
                sqlstate::INVALID_TABLE_DEFINITION,
                format!(
                    "table \"{}\" is DISTRIBUTED GLOBALLY: it is on every node and in no tier",
                    table.name
                ),
            ));
        }
        let tier = self.tier_named(&name)?;
        if tier == table.tier {
            return Ok(unchanged);
        }
        let mut new = (**table).clone();
        new.tier = tier;
        Ok(Plan::RewriteTable {
            table: table.clone(),
            new: Box::new(new),
            key: vec![],
            then_drop: None,
        })
    }

    /// ALTER TABLE forms that change only the catalog, applied in order.
    fn bind_alter_catalog(
        &mut self,
        table: Arc<TableDef>,
        operations: &[ast::AlterTableOperation],
    ) -> Result<Plan> {
        use ast::AlterTableOperation as Op;
        let mut new = (*table).clone();
        let mut validations = Vec::new();
        let mut unique: Vec<(String, Vec<usize>)> = Vec::new();
        let mut drop_indexes = Vec::new();
        let mut dropped = Vec::new();
        let mut notices = Vec::new();
        let mut added = Vec::new();
        let t = self.relation_text(table.schema, &table.name);
        let renames = operations.iter().any(|o| {
            matches!(
                o,
                Op::RenameTable { .. } | Op::RenameColumn { .. } | Op::RenameConstraint { .. }
            )
        });
        if renames && operations.len() > 1 {
            return Err(Error::syntax("syntax error at or near \",\""));
        }
        let column_of = |new: &TableDef, c: &ast::Ident| {
            let n = ident_name(c);
            new.column_index(&n).ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!("column \"{n}\" of relation \"{}\" does not exist", new.name),
                )
            })
        };
        let identity_error = |new: &TableDef, c: usize| {
            Error::new(
                sqlstate::SYNTAX_ERROR,
                format!(
                    "column \"{}\" of relation \"{}\" is an identity column",
                    new.columns[c].name, new.name
                ),
            )
        };
        for op in operations {
            match op {
                Op::AlterColumn { column_name, op } => {
                    let c = column_of(&new, column_name)?;
                    let cname = new.columns[c].name.clone();
                    match op {
                        ast::AlterColumnOperation::SetNotNull => {
                            if !new.columns[c].not_null {
                                new.columns[c].not_null = true;
                                validations.push(self.validation(
                                    &format!(
                                        "SELECT 1 FROM {t} WHERE {} IS NULL LIMIT 1",
                                        quote_name(&cname)
                                    ),
                                    sqlstate::NOT_NULL_VIOLATION,
                                    format!(
                                        "column \"{cname}\" of relation \"{}\" contains null values",
                                        table.name
                                    ),
                                )?);
                            }
                        }
                        ast::AlterColumnOperation::DropNotNull => {
                            if new.primary_key.contains(&c) {
                                return Err(Error::new(
                                    sqlstate::INVALID_TABLE_DEFINITION,
                                    format!("column \"{cname}\" is in a primary key"),
                                ));
                            }
                            if new.columns[c].identity.is_some() {
                                return Err(identity_error(&new, c));
                            }
                            new.columns[c].not_null = false;
                        }
                        ast::AlterColumnOperation::SetDefault { value } => {
                            if new.columns[c].identity.is_some() {
                                return Err(identity_error(&new, c));
                            }
                            let text =
                                self.check_default(value, new.columns[c].data_type, &cname)?;
                            new.columns[c].default = Some(text);
                        }
                        ast::AlterColumnOperation::SetDataType {
                            data_type: dt,
                            using,
                            ..
                        } => {
                            let v = self.retype_column(&mut new, c, dt, using.as_ref())?;
                            validations.push(v);
                        }
                        ast::AlterColumnOperation::DropDefault => {
                            if new.columns[c].identity.is_some() {
                                return Err(identity_error(&new, c).with_hint(
                                    "Use ALTER TABLE ... ALTER COLUMN ... DROP IDENTITY instead.",
                                ));
                            }
                            new.columns[c].default = None;
                        }
                        other => {
                            return Err(Error::unsupported(format!(
                                "ALTER TABLE … ALTER COLUMN … {other}"
                            )))
                        }
                    }
                }
                Op::AddConstraint {
                    constraint:
                        ast::TableConstraint::Check {
                            name,
                            expr,
                            enforced: None,
                        },
                    ..
                } => {
                    let (text, only) = self.check_check(&new, expr)?;
                    let name = match name {
                        Some(n) => {
                            let n = ident_name(n);
                            if new.checks.iter().any(|(c, _)| *c == n) {
                                return Err(Error::new(
                                    sqlstate::DUPLICATE_OBJECT,
                                    format!(
                                        "constraint \"{n}\" for relation \"{}\" already exists",
                                        new.name
                                    ),
                                ));
                            }
                            n
                        }
                        None => check_name(&new, only),
                    };
                    validations.push(self.validation(
                        &format!("SELECT 1 FROM {t} WHERE NOT ({text}) LIMIT 1"),
                        sqlstate::CHECK_VIOLATION,
                        format!(
                            "check constraint \"{name}\" of relation \"{}\" is violated by some row",
                            new.name
                        ),
                    )?);
                    new.checks.push((name, text));
                }
                Op::AddConstraint {
                    constraint: c @ ast::TableConstraint::ForeignKey { .. },
                    ..
                } => {
                    let written = ForeignKeyAst::of(c).expect("a FOREIGN KEY constraint");
                    let fk = self.foreign_key(&new, &written)?;
                    // Every row's key must be in the parent already.
                    let parent = match self.catalog.table_by_id(fk.parent) {
                        Some(p) => self.relation_text(p.schema, &p.name),
                        None => t.clone(),
                    };
                    let matches: Vec<String> = fk
                        .columns
                        .iter()
                        .zip(&fk.parent_columns)
                        .map(|(c, p)| {
                            let pc = match self.catalog.table_by_id(fk.parent) {
                                Some(pt) => pt.columns[*p].name.clone(),
                                None => new.columns[*p].name.clone(),
                            };
                            format!(
                                "p.{} = c.{}",
                                quote_name(&pc),
                                quote_name(&table.columns[*c].name)
                            )
                        })
                        .collect();
                    let not_null: Vec<String> = fk
                        .columns
                        .iter()
                        .map(|c| format!("c.{} IS NOT NULL", quote_name(&table.columns[*c].name)))
                        .collect();
                    let names: Vec<String> = fk
                        .columns
                        .iter()
                        .map(|c| table.columns[*c].name.clone())
                        .collect();
                    let selected: Vec<String> = names
                        .iter()
                        .map(|n| format!("c.{}", quote_name(n)))
                        .collect();
                    let mut v = self.validation(
                        &format!(
                            "SELECT {} FROM {t} AS c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {}) LIMIT 1",
                            selected.join(", "),
                            not_null.join(" AND "),
                            parent,
                            matches.join(" AND ")
                        ),
                        sqlstate::FOREIGN_KEY_VIOLATION,
                        format!(
                            "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                            table.name, fk.name
                        ),
                    )?;
                    v.detail = Some((
                        format!("Key ({})=(", names.join(", ")),
                        format!(") is not present in table \"{parent}\"."),
                    ));
                    validations.push(v);
                    new.foreign_keys.push(fk);
                }
                Op::AddConstraint {
                    constraint: ast::TableConstraint::Unique { name, columns, .. },
                    ..
                } => {
                    let key = distinct_columns(&new, columns.iter().map(key_column_name), |n| {
                        format!("column \"{n}\" appears twice in unique constraint")
                    })?;
                    let name = match name {
                        Some(n) => ident_name(n),
                        None => unused_name(key_name(&new.name, &new.columns, &key, "key"), |c| {
                            self.catalog.relation_exists(new.schema, c)
                                || unique.iter().any(|(u, _)| u == c)
                        }),
                    };
                    unique.push((name, key));
                }
                Op::DropConstraint {
                    if_exists, name, ..
                } => {
                    let n = ident_name(name);
                    if let Some(i) = new.checks.iter().position(|(c, _)| *c == n) {
                        new.checks.remove(i);
                    } else if let Some(i) = new.foreign_keys.iter().position(|fk| fk.name == n) {
                        new.foreign_keys.remove(i);
                    } else if let Some(ix) = self
                        .catalog
                        .index(table.schema, &n)
                        .filter(|ix| ix.table == table.id && ix.unique)
                    {
                        if let Some((child, fk)) =
                            crate::shard::foreign_keys_needing(self.catalog, ix)
                                .into_iter()
                                .next()
                        {
                            return Err(Error::new(
                                sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
                                format!(
                                    "cannot drop constraint {n} on table {} because other objects depend on it",
                                    table.name
                                ),
                            )
                            .with_detail(format!(
                                "constraint {} on table {} depends on index {n}",
                                fk.name, child.name
                            ))
                            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                        }
                        drop_indexes.push(n);
                    } else if n == format!("{}_pkey", table.name) && !table.has_row_id() {
                        return Err(Error::unsupported("dropping a primary key"));
                    } else {
                        let missing = format!(
                            "constraint \"{n}\" of relation \"{}\" does not exist",
                            table.name
                        );
                        if !*if_exists {
                            return Err(Error::new(sqlstate::UNDEFINED_OBJECT, missing));
                        }
                        notices.push(format!("{missing}, skipping"));
                    }
                }
                Op::AddColumn {
                    if_not_exists,
                    column_def: c,
                    column_position: None,
                    ..
                } => {
                    let n = ident_name(&c.name);
                    if new.column_index(&n).is_some() {
                        let taken =
                            format!("column \"{n}\" of relation \"{}\" already exists", new.name);
                        if !*if_not_exists {
                            return Err(Error::new(sqlstate::DUPLICATE_COLUMN, taken));
                        }
                        notices.push(format!("{taken}, skipping"));
                        continue;
                    }
                    if serial_type(&c.data_type).is_some() {
                        return Err(Error::unsupported(
                            "ALTER TABLE … ADD COLUMN of a serial column",
                        ));
                    }
                    self.refuse_domain(&c.data_type, "ALTER TABLE … ADD COLUMN")?;
                    let mut column =
                        ColumnDef::new(n.clone(), self.resolve_type(&c.data_type)?, false);
                    for opt in &c.options {
                        match &opt.option {
                            ast::ColumnOption::NotNull => column.not_null = true,
                            ast::ColumnOption::Null => {}
                            ast::ColumnOption::Default(e) => {
                                column.default =
                                    Some(self.check_default(e, column.data_type, &n)?);
                            }
                            other => {
                                return Err(Error::unsupported(format!(
                                    "ALTER TABLE … ADD COLUMN … {other}"
                                )))
                            }
                        }
                    }
                    let fill = self.column_default(new.schema, &column)?;
                    if fill.any(&|e| matches!(e, Expr::Sequence { .. } | Expr::Now(Clock::Wall))) {
                        return Err(Error::unsupported(
                            "ALTER TABLE … ADD COLUMN with a volatile DEFAULT",
                        ));
                    }
                    let if_null = match column.not_null {
                        true => Some(self.validation(
                            &format!("SELECT 1 FROM {t} LIMIT 1"),
                            sqlstate::NOT_NULL_VIOLATION,
                            format!(
                                "column \"{n}\" of relation \"{}\" contains null values",
                                table.name
                            ),
                        )?),
                        false => None,
                    };
                    column.missing = Some(Value::Null);
                    added.push(AddedColumn {
                        position: new.columns.len(),
                        fill,
                        if_null,
                    });
                    new.columns.push(column);
                }
                Op::RenameTable { table_name } => {
                    let (ast::RenameTableNameKind::To(to) | ast::RenameTableNameKind::As(to)) =
                        table_name;
                    self.refuse_rename_under_views(&table, None)?;
                    let to = self.qualified(to)?;
                    if let Some(s) = &to.schema {
                        if crate::names::schema_named(self.catalog, s)? != table.schema {
                            return Err(Error::syntax(format!(
                                "syntax error at or near \"{}\"",
                                to.shown()
                            )));
                        }
                    }
                    new.name = to.name;
                }
                Op::DropColumn {
                    column_names,
                    if_exists,
                    drop_behavior,
                    ..
                } => {
                    let cascade = matches!(drop_behavior, Some(ast::DropBehavior::Cascade));
                    for name in column_names {
                        let n = ident_name(name);
                        let Some(c) = new.column_index(&n) else {
                            let missing = format!(
                                "column \"{n}\" of relation \"{}\" does not exist",
                                table.name
                            );
                            if !*if_exists {
                                return Err(Error::new(sqlstate::UNDEFINED_COLUMN, missing));
                            }
                            notices.push(format!("{missing}, skipping"));
                            continue;
                        };
                        let before = new.clone();
                        self.drop_column(&mut new, c)?;
                        dropped.push(DroppedColumn {
                            column: c,
                            views: self.views_losing(&before, &new),
                            cascade,
                        });
                    }
                }
                Op::RenameColumn {
                    old_column_name,
                    new_column_name,
                } => {
                    let c = new
                        .column_index(&ident_name(old_column_name))
                        .ok_or_else(|| {
                            Error::new(
                                sqlstate::UNDEFINED_COLUMN,
                                format!(
                                    "column \"{}\" does not exist",
                                    ident_name(old_column_name)
                                ),
                            )
                        })?;
                    let to = ident_name(new_column_name);
                    if new.column_index(&to).is_some() {
                        return Err(Error::new(
                            sqlstate::DUPLICATE_COLUMN,
                            format!(
                                "column \"{to}\" of relation \"{}\" already exists",
                                new.name
                            ),
                        ));
                    }
                    self.refuse_rename_under_views(&table, Some((&new.columns[c].name, &to)))?;
                    // CHECK constraints are text: they read it by its new name.
                    let old = new.columns[c].name.clone();
                    for (_, text) in new.checks.iter_mut() {
                        *text = crate::parser::rename_column(text, &old, &to)?;
                    }
                    new.columns[c].name = to;
                }
                // CHECK and FOREIGN KEY constraints (a UNIQUE one is its
                // index: see `bind_alter_table`).
                Op::RenameConstraint { old_name, new_name } => {
                    let (old, to) = (ident_name(old_name), ident_name(new_name));
                    let taken = new.checks.iter().any(|(n, _)| *n == to)
                        || new.foreign_keys.iter().any(|fk| fk.name == to)
                        || self
                            .catalog
                            .indexes_of(table.id)
                            .any(|i| i.constraint && i.name == to)
                        || to == format!("{}_pkey", table.name);
                    if taken {
                        return Err(Error::new(
                            sqlstate::DUPLICATE_OBJECT,
                            format!(
                                "constraint \"{to}\" for relation \"{}\" already exists",
                                table.name
                            ),
                        ));
                    }
                    if let Some(check) = new.checks.iter_mut().find(|(n, _)| *n == old) {
                        check.0 = to;
                    } else if let Some(fk) = new.foreign_keys.iter_mut().find(|fk| fk.name == old) {
                        fk.name = to;
                    } else if old == format!("{}_pkey", table.name) && !table.has_row_id() {
                        return Err(Error::unsupported("renaming a primary key constraint"));
                    } else {
                        return Err(Error::new(
                            sqlstate::UNDEFINED_OBJECT,
                            format!(
                                "constraint \"{old}\" for table \"{}\" does not exist",
                                table.name
                            ),
                        ));
                    }
                }
                other => {
                    return Err(Error::unsupported(format!("ALTER TABLE … {other}")));
                }
            }
        }
        Ok(Plan::AlterTable(TableChange {
            table,
            new,
            validations,
            unique,
            drop_indexes,
            dropped,
            path: self.names.schemas(self.catalog),
            notices,
            added,
        }))
    }

    /// A FOREIGN KEY constraint of `child` (a table being created, id 0,
    /// may reference itself), checked as PostgreSQL checks it: the
    /// referenced columns are the parent's primary key or the columns of
    /// one of its unique indexes, types compare.
    fn foreign_key(
        &mut self,
        child: &TableDef,
        fk: &ForeignKeyAst,
    ) -> Result<tessera_types::ForeignKey> {
        if fk.deferrable {
            return Err(Error::unsupported("DEFERRABLE foreign keys"));
        }
        let parent_name = self.qualified(fk.parent)?;
        let names_child = parent_name.name == child.name
            && match &parent_name.schema {
                Some(s) => crate::names::schema_named(self.catalog, s)? == child.schema,
                None => true,
            };
        let parent: TableDef = if names_child {
            child.clone()
        } else {
            (*self.ddl_table(fk.parent)?).clone()
        };
        let mut columns = Vec::new();
        for c in &fk.columns {
            let n = ident_name(c);
            let i = child.column_index(&n).ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!("column \"{n}\" referenced in foreign key constraint does not exist"),
                )
            })?;
            columns.push(i);
        }
        let no_unique = || {
            Error::new(
                sqlstate::INVALID_FOREIGN_KEY,
                format!(
                    "there is no unique constraint matching given keys for referenced table \"{}\"",
                    parent.name
                ),
            )
        };
        let parent_columns: Vec<usize> = if fk.referred.is_empty() {
            if parent.has_row_id() {
                return Err(Error::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!(
                        "there is no primary key for referenced table \"{}\"",
                        parent.name
                    ),
                ));
            }
            parent.primary_key.clone()
        } else {
            let mut out = Vec::new();
            for c in fk.referred {
                let n = ident_name(c);
                out.push(parent.column_index(&n).ok_or_else(|| {
                    Error::new(
                        sqlstate::UNDEFINED_COLUMN,
                        format!(
                            "column \"{n}\" referenced in foreign key constraint does not exist"
                        ),
                    )
                })?);
            }
            out
        };
        if parent_columns.len() != columns.len() {
            return Err(Error::new(
                sqlstate::INVALID_FOREIGN_KEY,
                "number of referencing and referenced columns for foreign key disagree",
            ));
        }
        let mut sorted = parent_columns.clone();
        sorted.sort_unstable();
        let mut key = parent.primary_key.clone();
        key.sort_unstable();
        if sorted != key || key.is_empty() {
            let unique_other = self.catalog.indexes_of(parent.id).any(|ix| {
                let mut cols = ix.columns.clone();
                cols.sort_unstable();
                ix.unique && cols == sorted
            });
            // A unique constraint other than the primary key: the check
            // finds the parent's row through its index.
            if !unique_other {
                return Err(no_unique());
            }
        }
        let name = match &fk.name {
            Some(n) => n.clone(),
            None => unused_name(
                key_name(&child.name, &child.columns, &columns, "fkey"),
                |c| child.foreign_keys.iter().any(|f| f.name == c),
            ),
        };
        for (c, p) in columns.iter().zip(&parent_columns) {
            let (ct, pt) = (child.columns[*c].data_type, parent.columns[*p].data_type);
            let comparable = ct.unconstrained() == pt.unconstrained()
                || (ct.is_numeric_family() && pt.is_numeric_family())
                || (ct.is_string() && pt.is_string());
            if !comparable {
                return Err(Error::datatype_mismatch(format!(
                    "foreign key constraint \"{name}\" cannot be implemented"
                ))
                .with_detail(format!(
                    "Key columns \"{}\" and \"{}\" are of incompatible types: {} and {}.",
                    child.columns[*c].name,
                    parent.columns[*p].name,
                    ct.name(),
                    pt.name()
                )));
            }
        }
        let action = |a: Option<ast::ReferentialAction>| match a {
            None | Some(ast::ReferentialAction::NoAction) => tessera_types::FkAction::NoAction,
            Some(ast::ReferentialAction::Restrict) => tessera_types::FkAction::Restrict,
            Some(ast::ReferentialAction::Cascade) => tessera_types::FkAction::Cascade,
            Some(ast::ReferentialAction::SetNull) => tessera_types::FkAction::SetNull,
            Some(ast::ReferentialAction::SetDefault) => tessera_types::FkAction::SetDefault,
        };
        Ok(tessera_types::ForeignKey {
            name,
            columns,
            parent: parent.id,
            parent_columns,
            on_delete: action(fk.on_delete),
            on_update: action(fk.on_update),
        })
    }

    /// A query that must find no row for an ALTER TABLE to hold.
    /// Relation `name` of `schema` as SQL text the binder reads back.
    fn relation_text(&self, schema: SchemaId, name: &str) -> String {
        format!(
            "{}.{}",
            quote_name(self.catalog.schema_name(schema)),
            quote_name(name)
        )
    }

    fn validation(
        &mut self,
        sql: &str,
        code: tessera_types::sqlstate::SqlState,
        message: String,
    ) -> Result<Validation> {
        let parsed = crate::parser::parse(sql)?;
        let Some(ast::Statement::Query(q)) = parsed.into_iter().next().map(|p| p.statement) else {
            return Err(Error::internal("a validation that is not a query"));
        };
        let (plan, _) = self.bind_query(&q)?;
        Ok(Validation {
            query: Arc::new(Plan::Select(Box::new(plan))),
            code,
            message,
            detail: None,
        })
    }

    /// ALTER COLUMN … TYPE: the column of `new` takes the type, its rows'
    /// values are converted by the shards (`ColumnDef::retyped`); the
    /// returned validation converts every stored value first, failing as
    /// the conversion does (with every row held). Without USING the
    /// conversion is an assignment cast, as in PostgreSQL; USING may only
    /// be the column cast to the type.
    fn retype_column(
        &mut self,
        new: &mut TableDef,
        c: usize,
        dt: &ast::DataType,
        using: Option<&ast::Expr>,
    ) -> Result<Validation> {
        self.refuse_domain(dt, "ALTER COLUMN … TYPE")?;
        let to = self.resolve_type(dt)?;
        let name = new.columns[c].name.clone();
        let from = new.columns[c].data_type;
        let explicit = match using {
            None => false,
            Some(ast::Expr::Cast {
                expr,
                data_type: ut,
                ..
            }) if data_type(ut).ok() == Some(to)
                && matches!(&**expr, ast::Expr::Identifier(i) if ident_name(i) == name) =>
            {
                true
            }
            Some(other) => {
                return Err(Error::unsupported(format!(
                    "ALTER COLUMN … TYPE … USING {other} (only USING {name}::{to})"
                )))
            }
        };
        if !explicit && !to.assignable_from(from) {
            return Err(Error::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "column \"{name}\" cannot be cast automatically to type {}",
                    to.name()
                ),
            )
            .with_hint(format!(
                "You might need to specify \"USING {name}::{}\".",
                to.name()
            )));
        }
        if !castable(from, to) {
            return Err(Error::new(
                sqlstate::CANNOT_COERCE,
                format!("cannot cast type {} to {}", from.name(), to.name()),
            ));
        }
        let zoned = |t: DataType| matches!(t, DataType::TimestampTz(_) | DataType::TimeTz(_));
        if (zoned(from) || zoned(to)) && from.unconstrained() != to.unconstrained() {
            return Err(Error::unsupported(format!(
                "changing column \"{name}\" to or from a type with a time zone"
            )));
        }
        let in_key = new.primary_key.contains(&c)
            || new.sharding_key.contains(&c)
            || new.foreign_keys.iter().any(|fk| fk.columns.contains(&c))
            || self
                .catalog
                .indexes_of(new.id)
                .any(|ix| ix.columns.contains(&c))
            || self
                .catalog
                .referencing(new.id)
                .iter()
                .any(|(_, fk)| fk.parent_columns.contains(&c));
        let mut checked = false;
        for (_, text) in &new.checks {
            checked |= crate::parser::rename_column(text, &name, "\u{1}")? != *text;
        }
        // Stored keys stay as they are: the conversion must keep every
        // value (and so its key bytes and its shard).
        if (in_key || checked) && !keeps_values(from, to) {
            return Err(Error::unsupported(format!(
                "changing the type of column \"{name}\" from {} to {}, which a key, index, foreign key or CHECK constraint uses (only a change that keeps every value, such as integer to bigint)",
                from.name(),
                to.name()
            )));
        }
        // A serial column's sequence stays as it is (as in PostgreSQL); an
        // identity column's would have to change its type with it.
        let owns_sequence = self
            .catalog
            .sequences()
            .any(|s| s.owned_by == Some((new.id, c as u32)));
        if new.columns[c].identity.is_some() || (owns_sequence && !keeps_values(from, to)) {
            return Err(Error::unsupported(format!(
                "changing the type of column \"{name}\", which owns a sequence"
            )));
        }
        // A view that reads the column: PostgreSQL's 0A000.
        let mut without = new.clone();
        mark_dropped(&mut without.columns[c], c);
        let readers = self.views_losing(new, &without);
        if let Some(view) = readers.first().and_then(|v| self.catalog.view_by_id(*v)) {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "cannot alter type of a column used by a view or rule",
            )
            .with_detail(format!(
                "rule _RETURN on view {} depends on column \"{name}\"",
                view.name
            )));
        }
        let column = &mut new.columns[c];
        column.data_type = to;
        column.retyped = true;
        if let Some(v) = column.missing.take() {
            column.missing = Some(v.cast_with(to, explicit, &self.time)?);
        }
        // The default must still be one of the column's values.
        let column = column.clone();
        self.column_default(new.schema, &column).map_err(|_| {
            Error::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "default for column \"{name}\" cannot be cast automatically to type {}",
                    to.name()
                ),
            )
        })?;
        // Every stored value converted now, failing as its conversion does.
        let table = self.catalog.table_by_id(new.id).cloned().map(Arc::new);
        let table = table.ok_or_else(|| Error::internal("an altered table is missing"))?;
        let value = Expr::Column(c);
        let converted = Expr::Cast {
            expr: Box::new(value.clone()),
            to,
            explicit,
        };
        let filter = Expr::all(vec![
            Expr::IsNull {
                expr: Box::new(converted),
                negated: false,
            },
            Expr::IsNull {
                expr: Box::new(value),
                negated: true,
            },
        ]);
        let scan = self.table_scan(table, filter);
        Ok(Validation {
            query: Arc::new(Plan::Select(Box::new(scan))),
            code: sqlstate::INVALID_TEXT_REPRESENTATION,
            message: format!(
                "column \"{name}\" cannot be converted to type {}",
                to.name()
            ),
            detail: None,
        })
    }

    /// Marks column `c` of `new` dropped (PostgreSQL's attisdropped: rows
    /// keep a value there that nothing reads), with what is part of it:
    /// CHECK constraints that read it, foreign keys from it. What depends
    /// on it (views, foreign keys to it) and its indexes are decided with
    /// the change; keys and owned sequences are refused here.
    fn drop_column(&self, new: &mut TableDef, c: usize) -> Result<()> {
        let name = new.columns[c].name.clone();
        if new.primary_key.contains(&c) || new.sharding_key.contains(&c) {
            return Err(Error::unsupported(format!(
                "dropping column \"{name}\": it is in the primary key or the sharding key"
            )));
        }
        if self
            .catalog
            .sequences()
            .any(|s| s.owned_by == Some((new.id, c as u32)))
        {
            return Err(Error::unsupported(format!(
                "dropping column \"{name}\", which owns a sequence (serial or identity)"
            )));
        }
        if new.visible_columns().count() == 1 {
            return Err(Error::unsupported("tables without columns"));
        }
        let mut reads = Vec::new();
        for (check, text) in &new.checks {
            if crate::parser::rename_column(text, &name, "\u{1}")? != *text {
                reads.push(check.clone());
            }
        }
        new.checks.retain(|(check, _)| !reads.contains(check));
        new.foreign_keys.retain(|fk| !fk.columns.contains(&c));
        let column = &mut new.columns[c];
        mark_dropped(column, c);
        column.not_null = false;
        column.default = None;
        column.identity = None;
        Ok(())
    }

    /// The views over the table that read what `after` drops from
    /// `before`: they bind against `before` to the columns they were
    /// made with, and against `after` not at all or to other columns.
    fn views_losing(&self, before: &TableDef, after: &TableDef) -> Vec<tessera_types::TableId> {
        let binds = |table: &TableDef, view: &tessera_types::ViewDef| {
            let catalog = self.catalog.with_table_altered(table.clone());
            let bound = Binder::new(&catalog, &[], self.time.clone()).bind_view(view);
            bound.is_ok_and(|(_, columns)| {
                columns.len() == view.columns.len()
                    && columns
                        .iter()
                        .zip(&view.columns)
                        .all(|(c, (_, t))| c.data_type == *t)
            })
        };
        self.catalog
            .views()
            .filter(|v| v.depends_on.contains(&after.id))
            .filter(|v| binds(before, v) && !binds(after, v))
            .map(|v| v.id)
            .collect()
    }

    /// Views are kept as text: renaming what one reads would break it.
    /// `column` (old and new names): a column rename, which only a view
    /// whose text names either one can notice.
    fn refuse_rename_under_views(
        &self,
        table: &TableDef,
        column: Option<(&str, &str)>,
    ) -> Result<()> {
        let notices = |v: &tessera_types::ViewDef| match column {
            None => true,
            Some((old, new)) => names_identifier(&v.query, &[old, new]),
        };
        match self
            .catalog
            .views()
            .find(|v| v.depends_on.contains(&table.id) && notices(v))
        {
            Some(v) => Err(Error::unsupported(format!(
                "renaming \"{}\" or its columns while view \"{}\" reads it",
                table.name, v.name
            ))),
            None => Ok(()),
        }
    }

    fn bind_create_index(&mut self, ci: &ast::CreateIndex) -> Result<Plan> {
        if ci.predicate.is_some() {
            return Err(Error::unsupported("partial indexes (CREATE INDEX … WHERE)"));
        }
        if !ci.include.is_empty() {
            return Err(Error::unsupported("CREATE INDEX … INCLUDE"));
        }
        if let Some(using) = &ci.using {
            if !using.to_string().eq_ignore_ascii_case("btree") {
                return Err(Error::unsupported(format!("index method {using}")));
            }
        }
        let (table_name, schema) = self.ddl_schema(&ci.table_name)?;
        let table = schema
            .and_then(|s| self.catalog.table(s, &table_name.name))
            .ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("relation \"{}\" does not exist", table_name.shown()),
                )
            })?;
        let mut columns = Vec::new();
        let mut descending = Vec::new();
        for c in &ci.columns {
            let name = match &c.column.expr {
                ast::Expr::Identifier(i) => ident_name(i),
                other => return Err(Error::unsupported(format!("the index expression {other}"))),
            };
            let i = table.column_index(&name).ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!("column \"{name}\" does not exist"),
                )
            })?;
            columns.push(i);
            descending.push(c.column.options.asc == Some(false));
        }
        if columns.is_empty() {
            return Err(Error::syntax("syntax error at or near \")\""));
        }
        keyable(&table.columns, &columns)?;
        if columns.len() > tessera_types::schema::INDEX_KEYS_MAX {
            return Err(Error::new(
                sqlstate::TOO_MANY_COLUMNS,
                format!(
                    "cannot use more than {} columns in an index",
                    tessera_types::schema::INDEX_KEYS_MAX
                ),
            ));
        }
        let name = match ci.name.as_ref().map(|n| n.0.as_slice()) {
            // An index lives in its table's schema: its name has none.
            Some([ast::ObjectNamePart::Identifier(i)]) => ident_name(i),
            Some(_) => return Err(Error::syntax("syntax error at or near \".\"")),
            None => {
                // PostgreSQL's choice: table_col…_idx (or _key when unique),
                // numbered if taken.
                let suffix = if ci.unique { "key" } else { "idx" };
                unused_name(
                    key_name(&table.name, &table.columns, &columns, suffix),
                    |n| self.catalog.relation_exists(table.schema, n),
                )
            }
        };
        Ok(Plan::CreateIndex {
            index: tessera_types::IndexDef::new(name, table, columns, descending, ci.unique),
            if_not_exists: ci.if_not_exists,
        })
    }

    /// CREATE TABLE name [(columns)] AS query: the query's columns, named
    /// by the list where given, in a table keyed by hidden row ids (or
    /// sharded as DISTRIBUTED BY says).
    fn bind_create_table_as(
        &mut self,
        ct: &ast::CreateTable,
        query: &ast::Query,
        parsed: &Parsed,
    ) -> Result<Plan> {
        let distributed_by = parsed.distributed_by.as_deref();
        if !ct.columns.is_empty() {
            return Err(Error::syntax("syntax error at or near \"AS\""));
        }
        let q = self.qualified(&ct.name)?;
        let schema = self.creation_schema(&q)?;
        let name = q.name;
        let (_, descs) = self.bind_query(query)?;
        if !self.params.is_empty() {
            return Err(Error::new(
                sqlstate::UNDEFINED_PARAMETER,
                "there is no parameter $1",
            ));
        }
        let names = &parsed.as_columns;
        if names.len() > descs.len() {
            return Err(Error::syntax("too many column names were specified"));
        }
        let names: Vec<String> = names.iter().map(ident_name).collect();
        let columns = stored_columns(&descs, &names)?;
        // No column stores a record (PostgreSQL: a pseudo-type).
        if let Some((n, t)) = columns
            .iter()
            .find(|(_, t)| matches!(t, DataType::Record(_)))
        {
            return Err(Error::new(
                sqlstate::INVALID_TABLE_DEFINITION,
                format!("column \"{n}\" has pseudo-type {t}"),
            ));
        }
        let columns: Vec<ColumnDef> = columns
            .into_iter()
            .map(|(n, t)| ColumnDef::new(n, t, false))
            .collect();
        let mut sharding_key = Vec::new();
        for c in distributed_by.unwrap_or(&[]) {
            let n = ident_name(c);
            let i = columns.iter().position(|x| x.name == n).ok_or_else(|| {
                Error::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!("column \"{n}\" named in DISTRIBUTED BY does not exist"),
                )
            })?;
            sharding_key.push(i);
        }
        Ok(Plan::CreateTableAs {
            table: TableDef {
                id: 0,
                name,
                schema,
                columns,
                primary_key: vec![],
                sharding_key,
                global: parsed.distributed_globally,
                tier: self.tier_of(parsed, None)?,
                checks: vec![],
                foreign_keys: vec![],
            },
            query: parsed.with_data.then(|| query.to_string()),
            if_not_exists: ct.if_not_exists,
        })
    }

    /// The tier a CREATE TABLE's `IN TIER`, or its storage parameter
    /// `tier` (`option`, which pg_dump writes back from `reloptions`),
    /// names; the first without either.
    fn tier_of(&self, parsed: &Parsed, option: Option<String>) -> Result<u16> {
        let name = match (parsed.in_tier.as_ref().map(ident_name), option) {
            (None, None) => return Ok(0),
            (Some(a), Some(b)) if a != b => {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("IN TIER {a} and WITH (tier = {b}) name different tiers"),
                ))
            }
            (Some(name), _) | (None, Some(name)) => name,
        };
        if parsed.distributed_globally {
            return Err(Error::new(
                sqlstate::INVALID_TABLE_DEFINITION,
                "a table DISTRIBUTED GLOBALLY is on every node and in no tier",
            ));
        }
        self.tier_named(&name)
    }

    /// The index of the tier called `name`: 42704 if it has no buckets.
    fn tier_named(&self, name: &str) -> Result<u16> {
        self.catalog.tier_index(name).ok_or_else(|| {
            let known: Vec<String> = self
                .catalog
                .tiers
                .iter()
                .map(|t| format!("\"{}\"", t.name))
                .collect();
            Error::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("tier \"{name}\" does not exist"),
            )
            .with_hint(format!(
                "The tiers with buckets are {}; a tier gets its buckets once its first node is up.",
                known.join(", ")
            ))
        })
    }

    /// An expression stored in the catalog (DEFAULT, CHECK) may hold no
    /// subquery and no parameter; `marks` are the parameter and init plan
    /// counts before it was bound.
    fn check_stored(&mut self, x: &Expr, marks: (usize, usize), what: &str) -> Result<()> {
        let (params, init) = marks;
        if self.init.len() > init || x.any(&|e| matches!(e, Expr::Subquery(_))) {
            self.init.truncate(init);
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("cannot use subquery in {what}"),
            ));
        }
        if self.params.len() > params {
            return Err(Error::new(
                sqlstate::UNDEFINED_PARAMETER,
                format!("there is no parameter ${}", params + 1),
            ));
        }
        Ok(())
    }

    /// COMMENT ON TABLE t / COLUMN t.c (of a table or a view).
    fn bind_comment(
        &mut self,
        kind: ast::CommentObject,
        name: &ast::ObjectName,
        text: Option<String>,
    ) -> Result<Plan> {
        let text = text.filter(|t| !t.is_empty());
        match kind {
            ast::CommentObject::Table => {
                let table = self.ddl_table(name)?;
                Ok(Plan::Comment {
                    object: table.id,
                    column: 0,
                    text,
                })
            }
            ast::CommentObject::Column => {
                let parts = &name.0;
                let (Some(ast::ObjectNamePart::Identifier(column)), Some(rest)) =
                    (parts.last(), parts.len().checked_sub(1))
                else {
                    return Err(Error::syntax("column name must be qualified"));
                };
                if rest == 0 {
                    return Err(Error::syntax("column name must be qualified"));
                }
                let relation = ast::ObjectName(parts[..rest].to_vec());
                let (q, schema) = self.ddl_schema(&relation)?;
                let rname = q.name.clone();
                let c = ident_name(column);
                let found = schema.map(|s| {
                    (
                        self.catalog.table(s, &q.name),
                        self.catalog.view(s, &q.name),
                    )
                });
                let (id, columns): (tessera_types::TableId, Vec<String>) = match found
                    .unwrap_or((None, None))
                {
                    (Some(t), _) => (t.id, t.columns.iter().map(|c| c.name.clone()).collect()),
                    (None, Some(v)) => (v.id, v.columns.iter().map(|(n, _)| n.clone()).collect()),
                    (None, None) => {
                        return Err(Error::new(
                            sqlstate::UNDEFINED_TABLE,
                            format!("relation \"{}\" does not exist", q.shown()),
                        ))
                    }
                };
                let i = columns.iter().position(|n| *n == c).ok_or_else(|| {
                    Error::new(
                        sqlstate::UNDEFINED_COLUMN,
                        format!("column \"{c}\" of relation \"{rname}\" does not exist"),
                    )
                })?;
                Ok(Plan::Comment {
                    object: id,
                    column: i as u32 + 1,
                    text,
                })
            }
            other => Err(Error::unsupported(format!("COMMENT ON {other}"))),
        }
    }

    /// A table's CHECK constraints, bound over its row.
    fn table_checks(&mut self, table: &Arc<TableDef>) -> Result<Checks> {
        let domains = self.domain_checks(table)?;
        if table.checks.is_empty() {
            return Ok(domains.into());
        }
        let scope = Scope {
            table: Some(table.clone()),
            qualifier: Some(table.name.clone()),
            ..Scope::default()
        };
        let mut out = Vec::with_capacity(table.checks.len());
        for (name, text) in &table.checks {
            let e = crate::parser::parse_expr(text)?;
            let (x, _) = self.in_table_schema(table.schema, |b| {
                b.bind_expr(
                    &e,
                    &scope,
                    &mut Ctx::Row {
                        clause: "check constraints",
                    },
                )
            })?;
            out.push((name.clone(), x));
        }
        out.extend(domains);
        Ok(out.into())
    }

    /// Checks a CHECK constraint's expression over a new table's columns
    /// as PostgreSQL does; returns its text and the column it reads, if it
    /// reads exactly one.
    fn check_check(&mut self, table: &TableDef, e: &ast::Expr) -> Result<(String, Option<usize>)> {
        let scope = Scope {
            table: Some(Arc::new(table.clone())),
            qualifier: Some(table.name.clone()),
            ..Scope::default()
        };
        let (params, init) = (self.params.len(), self.init.len());
        let (x, t) = self.bind_expr(
            e,
            &scope,
            &mut Ctx::Row {
                clause: "check constraints",
            },
        )?;
        self.check_stored(&x, (params, init), "check constraint")?;
        if t != DataType::Bool && t != DataType::Unknown {
            return Err(Error::datatype_mismatch(format!(
                "argument of CHECK must be type boolean, not type {}",
                t.name()
            )));
        }
        let mut read = Vec::new();
        x.for_each_column(&mut |c| {
            if !read.contains(&c) {
                read.push(c);
            }
        });
        let only = match read.as_slice() {
            [c] => Some(*c),
            _ => None,
        };
        Ok((e.to_string(), only))
    }

    /// Each column's DEFAULT expression (NULL where it has none).
    fn column_defaults(&mut self, table: &TableDef) -> Result<Vec<Expr>> {
        table
            .columns
            .iter()
            .map(|c| self.column_default(table.schema, c))
            .collect()
    }

    /// A column's DEFAULT expression, bound from its stored text: names in
    /// it resolve in the table's schema first, then in public (where a
    /// serial column's sequence is, and where they resolved before
    /// schemas), whatever the session's search_path.
    fn column_default(&mut self, schema: SchemaId, column: &ColumnDef) -> Result<Expr> {
        // A column without a DEFAULT of its own takes its domain's.
        let domain_default = column
            .domain
            .and_then(|oid| self.catalog.type_by_oid(oid))
            .and_then(|(def, _)| def.domain.as_ref()?.default.clone());
        let Some(text) = column.default.as_ref().or(domain_default.as_ref()) else {
            return Ok(Expr::literal_null());
        };
        let e = crate::parser::parse_expr(text)?;
        // Every column's default is bound, used or not: a constant of it
        // that fails to fold (`DEFAULT 1/0`) stays unfolded and fails
        // where a row takes the default, not the statement.
        let errors_before = self.fold_errors.len();
        let bound = self.in_table_schema(schema, |b| {
            let (x, t) = b.bind_expr_hint(
                &e,
                &Scope::default(),
                &mut Ctx::Row { clause: "DEFAULT" },
                Some(column.data_type),
            )?;
            b.assign(x, t, column)
        });
        self.fold_errors.truncate(errors_before);
        bound
    }

    /// Runs `bind` with names resolving in `schema`, then public: how the
    /// expressions stored with a table (defaults, checks) read.
    fn in_table_schema<T>(
        &mut self,
        schema: SchemaId,
        bind: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let path = Names {
            path: vec![
                self.catalog.schema_name(schema).to_string(),
                "public".into(),
            ],
            ..self.names.clone()
        };
        let session = std::mem::replace(&mut self.names, path);
        let bound = bind(self);
        self.names = session;
        bound
    }

    /// Checks a DEFAULT expression of a new column of type `t` as
    /// PostgreSQL does (no columns, subqueries or parameters; assignable
    /// to the column) and returns the text to store.
    fn check_default(&mut self, e: &ast::Expr, t: DataType, column: &str) -> Result<String> {
        let (params, init) = (self.params.len(), self.init.len());
        let (x, xt) = self
            .bind_expr_hint(
                e,
                &Scope::default(),
                &mut Ctx::Row { clause: "DEFAULT" },
                Some(t),
            )
            .map_err(|err| {
                if err.code == sqlstate::UNDEFINED_COLUMN {
                    Error::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        "cannot use column reference in DEFAULT expression",
                    )
                } else {
                    err
                }
            })?;
        self.check_stored(&x, (params, init), "DEFAULT expression")?;
        let probe = ColumnDef::new(column, t, false);
        self.assign(x, xt, &probe).map_err(|err| {
            if err.code == sqlstate::DATATYPE_MISMATCH {
                Error::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!(
                        "column \"{column}\" is of type {} but default expression is of type {}",
                        t.name(),
                        xt.name()
                    ),
                )
                .with_hint("You will need to rewrite or cast the expression.")
            } else {
                err
            }
        })?;
        Ok(e.to_string())
    }

    /// The sequence of a serial or identity column `column` of new table
    /// `table`, named as PostgreSQL names it (`table_column_seq`, numbered
    /// if taken).
    fn owned_sequence(
        &self,
        schema: SchemaId,
        table: &str,
        column: &str,
        t: DataType,
        options: &tessera_types::sequence::SequenceOptions,
        taken: &[(tessera_types::SequenceDef, u32)],
    ) -> Result<tessera_types::SequenceDef> {
        let name = unused_name(format!("{table}_{column}_seq"), |n| {
            self.catalog.relation_exists(schema, n)
                || taken.iter().any(|(s, _)| s.name == n)
                || n == table
        });
        let mut options = options.clone();
        if options.data_type.is_none() {
            options.data_type = Some(t);
        }
        let mut sequence = tessera_types::SequenceDef::new(name, &options)?;
        sequence.schema = schema;
        Ok(sequence)
    }

    /// The options of CREATE SEQUENCE or of an identity column.
    fn sequence_options(
        &self,
        options: &[ast::SequenceOptions],
    ) -> Result<tessera_types::sequence::SequenceOptions> {
        use ast::SequenceOptions as O;
        let mut out = tessera_types::sequence::SequenceOptions::default();
        let conflicting = || Error::syntax("conflicting or redundant options");
        for o in options {
            match o {
                O::IncrementBy(e, _) if out.increment.is_none() => {
                    out.increment = Some(option_integer(e)?)
                }
                O::MinValue(e) if out.min.is_none() => {
                    out.min = Some(e.as_ref().map(option_integer).transpose()?)
                }
                O::MaxValue(e) if out.max.is_none() => {
                    out.max = Some(e.as_ref().map(option_integer).transpose()?)
                }
                O::StartWith(e, _) if out.start.is_none() => out.start = Some(option_integer(e)?),
                O::Cache(e) if out.cache.is_none() => out.cache = Some(option_integer(e)?),
                O::Cycle(no) if out.cycle.is_none() => out.cycle = Some(!*no),
                _ => return Err(conflicting()),
            }
        }
        Ok(out)
    }

    fn bind_create_sequence(
        &mut self,
        if_not_exists: bool,
        name: &ast::ObjectName,
        t: Option<&ast::DataType>,
        options: &[ast::SequenceOptions],
        owned_by: Option<&ast::ObjectName>,
    ) -> Result<Plan> {
        let q = self.qualified(name)?;
        let schema = self.creation_schema(&q)?;
        let mut opts = self.sequence_options(options)?;
        if let Some(t) = t {
            opts.data_type = Some(data_type(t)?);
        }
        let mut sequence = tessera_types::SequenceDef::new(q.name, &opts)?;
        sequence.schema = schema;
        match owned_by.map(|o| o.0.as_slice()) {
            None => {}
            Some([ast::ObjectNamePart::Identifier(i)]) if i.value.eq_ignore_ascii_case("none") => {}
            Some([table @ .., ast::ObjectNamePart::Identifier(column)]) if !table.is_empty() => {
                let table_name = ast::ObjectName(table.to_vec());
                let table = self.ddl_table(&table_name)?;
                if table.schema != schema {
                    return Err(Error::new(
                        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "sequence must be in same schema as table it is linked to",
                    ));
                }
                let c = ident_name(column);
                let i = table
                    .column_index(&c)
                    .ok_or_else(|| undefined_column(None, &c))?;
                sequence.owned_by = Some((table.id, i as u32));
            }
            Some(_) => {
                return Err(Error::syntax(
                    "invalid OWNED BY option: specify OWNED BY table.column or OWNED BY NONE",
                ))
            }
        }
        Ok(Plan::CreateSequence {
            sequence,
            if_not_exists,
        })
    }

    /// `e` as a whole row of a FROM item (`to_jsonb(t)`, `json_agg(t)`):
    /// a name that is no column but an item's, as a json (jsonb when
    /// `binary`) object of its columns. `None` when `e` is no such name.
    fn bind_whole_row(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        ctx: &mut Ctx,
        binary: bool,
    ) -> Result<Option<(Expr, DataType)>> {
        let ast::Expr::Identifier(i) = e else {
            return Ok(None);
        };
        let name = ident_name(i);
        if scope.resolve_expr(None, &name).is_ok() {
            return Ok(None);
        }
        let columns: Vec<String> =
            if let Some(item) = scope.items.iter().find(|item| item.qualifier == name) {
                item.columns
                    .iter()
                    .map(|(c, _)| c.clone())
                    .filter(|c| !is_dropped_name(c))
                    .collect()
            } else if let (Some(table), Some(q)) = (&scope.table, &scope.qualifier) {
                if *q != name {
                    return Ok(None);
                }
                table
                    .visible_columns()
                    .map(|(_, c)| c.name.clone())
                    .collect()
            } else {
                return Ok(None);
            };
        let mut args = Vec::with_capacity(columns.len() * 2);
        for c in columns {
            let (value, _) = self.bind_expr(&column_ref(&name, &c), scope, ctx)?;
            args.push(Expr::Literal(Value::Text(c)));
            args.push(value);
        }
        let result = if binary {
            DataType::Jsonb
        } else {
            DataType::Json
        };
        let call = Expr::Call {
            func: Function::Json(JsonFn::RowObject(binary)),
            args,
        };
        Ok(Some((call, result)))
    }

    /// A json, jsonb, uuid or bytea operator or function (see
    /// [`crate::json`]) over the expressions `args`.
    fn bind_json_call(
        &mut self,
        f: JsonFn,
        name: &str,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            bound.push(self.bind_expr(a, scope, ctx)?);
        }
        self.json_call(f, name, bound)
    }

    /// Each argument bound and coerced to the parameter type at its place
    /// (a function of fixed signature).
    fn bind_args_as(
        &mut self,
        args: &[ast::Expr],
        types: &[DataType],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Vec<Expr>> {
        let mut bound = Vec::with_capacity(args.len());
        for (a, t) in args.iter().zip(types) {
            let (e, et) = self.bind_expr_hint(a, scope, ctx, Some(*t))?;
            bound.push(self.coerce(e, et, *t)?);
        }
        Ok(bound)
    }

    /// [`Self::bind_json_call`] over bound arguments.
    fn json_call(
        &mut self,
        f: JsonFn,
        name: &str,
        bound: Vec<(Expr, DataType)>,
    ) -> Result<(Expr, DataType)> {
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        let signature = crate::json::signature(f, &types);
        self.overload_call(Function::Json(f), name, bound, signature)
    }

    /// An array function or operator over bound arguments (the companion
    /// value of an array is cast to its element type).
    fn array_call(
        &mut self,
        f: ArrayFn,
        name: &str,
        bound: Vec<(Expr, DataType)>,
    ) -> Result<(Expr, DataType)> {
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        let signature = crate::array::signature(f, &types);
        self.overload_call(Function::Array(f), name, bound, signature)
    }

    /// A call of `func` with the overload `signature` picked for the
    /// arguments' types (the types to cast each to, and the result), or
    /// 42883 — an operator's when `name` is one.
    fn overload_call(
        &mut self,
        func: Function,
        name: &str,
        bound: Vec<(Expr, DataType)>,
        signature: Option<(Vec<Option<DataType>>, DataType)>,
    ) -> Result<(Expr, DataType)> {
        let Some((wanted, result)) = signature else {
            let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
            let is_operator = !name.starts_with(|c: char| c.is_ascii_alphabetic());
            return Err(match (is_operator, types.as_slice()) {
                (true, [l, r]) => operator_missing(name, Some(*l), *r),
                _ => no_such_call(name, &types),
            });
        };
        let mut args = Vec::with_capacity(bound.len());
        for ((e, t), want) in bound.into_iter().zip(wanted) {
            args.push(match want {
                Some(w) if w != t => self.coerce(e, t, w)?,
                _ => e,
            });
        }
        self.fold_call(func, args, result)
    }

    /// `ARRAY[a, b, …]`: the elements' common type; an empty one needs a
    /// cast to tell its type (`ARRAY[]::int[]`), as in PostgreSQL.
    fn bind_array_constructor(
        &mut self,
        elems: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
        cast_to: Option<DataType>,
    ) -> Result<(Expr, DataType)> {
        let hint = match cast_to {
            Some(DataType::Array(e)) => Some(e.data_type()),
            _ => None,
        };
        let mut bound = Vec::with_capacity(elems.len());
        for e in elems {
            if let ast::Expr::Array(_) = e {
                return Err(Error::unsupported("multidimensional arrays"));
            }
            bound.push(self.bind_expr_hint(e, scope, ctx, hint)?);
        }
        // The elements' own types decide; a cast's type only when they
        // have none (ARRAY['1']::int[] is int[] at once, ARRAY[1]::text[]
        // an int[] cast to text[]).
        let mut common = DataType::Unknown;
        if bound.iter().all(|(_, t)| *t == DataType::Unknown) {
            common = hint.unwrap_or(DataType::Unknown);
        }
        for (_, t) in &bound {
            common = DataType::common_type(common, *t).ok_or_else(|| {
                Error::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!(
                        "ARRAY types {} and {} cannot be matched",
                        common.name(),
                        t.name()
                    ),
                )
            })?;
        }
        if bound.is_empty() && hint.is_none() {
            return Err(Error::new(
                sqlstate::INDETERMINATE_DATATYPE,
                "cannot determine type of empty array",
            )
            .with_hint("Explicitly cast to the desired type, for example ARRAY[]::integer[]."));
        }
        let common = if common == DataType::Unknown {
            DataType::Text
        } else {
            common
        };
        let elem = match Elem::of(common) {
            Some(e) => e,
            None if matches!(common, DataType::Array(_)) => {
                return Err(Error::unsupported("multidimensional arrays"))
            }
            None => return Err(Error::unsupported(format!("arrays of {common}"))),
        };
        let mut args = Vec::with_capacity(bound.len());
        for (e, t) in bound {
            args.push(self.coerce(e, t, elem.data_type())?);
        }
        self.fold_call(
            Function::Array(ArrayFn::Construct(elem)),
            args,
            DataType::Array(elem),
        )
    }

    /// `a[i]`, `a[i:j]`, chained.
    fn bind_subscripts(
        &mut self,
        root: &ast::Expr,
        chain: &[ast::AccessExpr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        // sqlparser reads `c.conkey[1]` as the root `c` with the chain
        // `.conkey`, `[1]`: the leading dotted names belong to the column
        // reference that is subscripted.
        let names = chain
            .iter()
            .take_while(|a| matches!(a, ast::AccessExpr::Dot(ast::Expr::Identifier(_))))
            .count();
        let column;
        let (root, chain) = match root {
            ast::Expr::Identifier(first) if names > 0 => {
                let mut parts = vec![first.clone()];
                parts.extend(chain[..names].iter().filter_map(|a| match a {
                    ast::AccessExpr::Dot(ast::Expr::Identifier(i)) => Some(i.clone()),
                    _ => None,
                }));
                column = ast::Expr::CompoundIdentifier(parts);
                (&column, &chain[names..])
            }
            _ => (root, chain),
        };
        let (mut e, mut t) = self.bind_expr(root, scope, ctx)?;
        for access in chain {
            let sub = match access {
                ast::AccessExpr::Subscript(sub) => sub,
                ast::AccessExpr::Dot(ast::Expr::Identifier(field)) => {
                    (e, t) = record_field(e, t, &ident_name(field))?;
                    continue;
                }
                ast::AccessExpr::Dot(_) => {
                    return Err(Error::unsupported(format!("the field access {access}")))
                }
            };
            // A name is a fixed array of bytes, subscripted from 0, each a
            // "char" (`typname[0] = '_'`, as pg_dump tests for array types).
            if let (DataType::Name, ast::Subscript::Index { index: i }) = (t, sub) {
                let (ie, it) = self.bind_expr_hint(i, scope, ctx, Some(DataType::Int4))?;
                if !(it.is_integer() || it == DataType::Unknown) {
                    return Err(Error::new(
                        sqlstate::DATATYPE_MISMATCH,
                        "array subscript must have type integer",
                    ));
                }
                let from = Expr::Binary {
                    op: BinaryOp::Add,
                    left: Box::new(self.coerce(ie, it, DataType::Int8)?),
                    right: Box::new(Expr::Literal(Value::Int8(1))),
                };
                let s = self.coerce(e, DataType::Name, DataType::Text)?;
                (e, t) = self.fold_call(
                    Function::Text(crate::text::TextFn::Substr),
                    vec![s, from, Expr::Literal(Value::Int8(1))],
                    DataType::InternalChar,
                )?;
                continue;
            }
            // int2vector and oidvector subscripts start at 0: their
            // arrays' at 1.
            let offset = match t.vector_array() {
                Some(array) => {
                    t = array;
                    1
                }
                None => 0,
            };
            if !matches!(t, DataType::Array(_)) {
                return Err(Error::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!(
                        "cannot subscript type {} because it does not support subscripting",
                        t.name()
                    ),
                ));
            }
            let mut index = |this: &mut Self, x: Option<&ast::Expr>| -> Result<Expr> {
                let Some(x) = x else {
                    return Ok(Expr::Literal(Value::Null));
                };
                let (ie, it) = this.bind_expr_hint(x, scope, ctx, Some(DataType::Int4))?;
                if !(it.is_integer() || it == DataType::Unknown) {
                    return Err(Error::new(
                        sqlstate::DATATYPE_MISMATCH,
                        "array subscript must have type integer",
                    ));
                }
                let ie = this.coerce(ie, it, DataType::Int8)?;
                Ok(match offset {
                    0 => ie,
                    k => Expr::Binary {
                        op: BinaryOp::Add,
                        left: Box::new(ie),
                        right: Box::new(Expr::Literal(Value::Int8(k))),
                    },
                })
            };
            match sub {
                ast::Subscript::Index { index: i } => {
                    let i = index(self, Some(i))?;
                    let DataType::Array(elem) = t else {
                        return Err(Error::internal("a subscript of a non-array"));
                    };
                    (e, t) = self.fold_call(
                        Function::Array(ArrayFn::Subscript),
                        vec![e, i],
                        elem.data_type(),
                    )?;
                    // A subscripted array yields an element: no more subscripts.
                }
                ast::Subscript::Slice {
                    lower_bound,
                    upper_bound,
                    stride: None,
                } => {
                    let f = ArrayFn::Slice {
                        lower: lower_bound.is_some(),
                        upper: upper_bound.is_some(),
                    };
                    let lo = index(self, lower_bound.as_ref())?;
                    let hi = index(self, upper_bound.as_ref())?;
                    (e, t) = self.fold_call(Function::Array(f), vec![e, lo, hi], t)?;
                }
                ast::Subscript::Slice { .. } => {
                    return Err(Error::unsupported("array slices with a stride"))
                }
            }
        }
        Ok((e, t))
    }

    /// `x op ANY (array)` / `x op ALL (array)`.
    fn bind_any_array(
        &mut self,
        left: &ast::Expr,
        op: BinaryOp,
        all: bool,
        right: &ast::Expr,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let (l, lt) = self.bind_expr(left, scope, ctx)?;
        // An untyped literal on the left makes it text = ANY (text[]).
        let hint = match lt {
            DataType::Unknown => Some(DataType::Array(Elem::Text)),
            t => Elem::of(t).map(DataType::Array),
        };
        let (r, rt) = self.bind_expr_hint(right, scope, ctx, hint)?;
        let rt = rt.vector_array().unwrap_or(rt);
        let (r, rt) = match (rt, hint) {
            (DataType::Unknown, Some(h)) => (self.coerce(r, rt, h)?, h),
            _ => (r, rt),
        };
        let DataType::Array(elem) = rt else {
            return Err(Error::new(
                sqlstate::WRONG_OBJECT_TYPE,
                "op ANY/ALL (array) requires array on right side",
            ));
        };
        let et = elem.data_type();
        let common = DataType::common_type(lt, et)
            .ok_or_else(|| operator_missing(op.symbol(), Some(lt), et))?;
        let common = if common == DataType::Unknown {
            DataType::Text
        } else {
            common
        };
        let l = self.coerce(l, lt, common)?;
        let r = match Elem::of(common) {
            Some(c) if c != elem => self.coerce(r, rt, DataType::Array(c))?,
            _ => r,
        };
        self.fold_call(
            Function::Array(ArrayFn::Quantified { op, all }),
            vec![l, r],
            DataType::Bool,
        )
    }

    /// A string function (see [`crate::text`]): its arguments bound to the
    /// types its signature wants, or 42883 as PostgreSQL says it.
    fn bind_text_call(
        &mut self,
        f: crate::text::TextFn,
        name: &str,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        use crate::text::Arg;
        let mut bound = Vec::with_capacity(args.len());
        let kinds = f.signature(args.len()).map(|(k, _)| k);
        for (i, a) in args.iter().enumerate() {
            let hint = match kinds.as_ref().and_then(|k| k.get(i)) {
                Some(Arg::Int) => Some(DataType::Int4),
                _ => Some(DataType::Text),
            };
            bound.push(self.bind_expr_hint(a, scope, ctx, hint)?);
        }
        let missing = |types: &[DataType]| no_such_call(name, types);
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        // substring, position, trim and md5 of a bytea: its own forms.
        if let (true, Some(bytea)) = (
            types.contains(&DataType::Bytea),
            crate::bytea::ByteaFn::of_text(f),
        ) {
            return self.json_call(JsonFn::Bytea(bytea), name, bound);
        }
        let Some((kinds, result)) = f.signature(args.len()) else {
            return Err(missing(&types));
        };
        let mut out = Vec::with_capacity(bound.len());
        for ((e, t), kind) in bound.into_iter().zip(&kinds) {
            out.push(match kind {
                Arg::Any => e,
                Arg::Text if t.is_string() || t == DataType::Unknown => {
                    self.coerce(e, t, DataType::Text)?
                }
                Arg::Int if t.is_integer() || t == DataType::Unknown => {
                    self.coerce(e, t, DataType::Int8)?
                }
                _ => return Err(missing(&types)),
            });
        }
        Ok((
            Expr::Call {
                func: Function::Text(f),
                args: out,
            },
            result,
        ))
    }

    /// A call of `to_char`, `to_date`, `make_interval`… (see
    /// [`crate::formatting`]), named arguments included; `None` for other
    /// functions and for calls with OVER, FILTER or DISTINCT.
    fn bind_formatting_call(
        &mut self,
        name: &str,
        f: &ast::Function,
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Option<(Expr, DataType)>> {
        let ast::FunctionArguments::List(list) = &f.args else {
            return Ok(None);
        };
        let plain = f.over.is_none()
            && f.filter.is_none()
            && f.within_group.is_empty()
            && list.clauses.is_empty()
            && list.duplicate_treatment.is_none();
        let Some(func) = crate::formatting::FormattingFn::named(name, list.args.len()) else {
            return Ok(None);
        };
        if !plain {
            return Ok(None);
        }
        let args = func.positional_args(name, &list.args)?;
        let mut bound = Vec::with_capacity(args.len());
        for a in &args {
            bound.push(self.bind_expr(a, scope, ctx)?);
        }
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        let (arg_types, result) = func.resolve(name, &types)?;
        let args = bound
            .into_iter()
            .zip(arg_types)
            .map(|((e, from), to)| self.coerce(e, from, to))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((
            Expr::Call {
                func: Function::Formatting(func),
                args,
            },
            result,
        )))
    }

    /// A call of a mathematical function on bound arguments: the overload
    /// PostgreSQL would pick ([`crate::math::MathFn::resolve`]), its
    /// arguments cast to its types.
    fn math_call(
        &mut self,
        f: crate::math::MathFn,
        name: &str,
        bound: Vec<(Expr, DataType)>,
    ) -> Result<(Expr, DataType)> {
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        let (arg_types, result) = f
            .resolve(&types)
            .ok_or_else(|| no_such_call(name, &types))?;
        self.math_call_as(f, bound, arg_types, result)
    }

    /// The call of `f` on `bound`, its arguments cast to `arg_types`.
    fn math_call_as(
        &mut self,
        f: crate::math::MathFn,
        bound: Vec<(Expr, DataType)>,
        arg_types: Vec<DataType>,
        result: DataType,
    ) -> Result<(Expr, DataType)> {
        let args = bound
            .into_iter()
            .zip(arg_types)
            .map(|((e, from), to)| self.coerce(e, from, to))
            .collect::<Result<Vec<_>>>()?;
        Ok((
            Expr::Call {
                func: Function::Math(f),
                args,
            },
            result,
        ))
    }

    /// An integer bit operator (`&`, `|`, `#`, `<<`, `>>`, prefix `~`);
    /// 42883 for operands that are not integers.
    fn bit_operator(
        &mut self,
        f: crate::math::MathFn,
        symbol: &str,
        bound: Vec<(Expr, DataType)>,
    ) -> Result<(Expr, DataType)> {
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        let Some((arg_types, result)) = f.resolve(&types) else {
            return Err(match types.as_slice() {
                [l, r] => operator_missing(symbol, Some(*l), *r),
                [x] => operator_missing(symbol, None, *x),
                _ => Error::internal("a bit operator's operands"),
            });
        };
        self.math_call_as(f, bound, arg_types, result)
    }

    /// The operands of a regular expression operator (`~`, `SIMILAR TO`):
    /// strings, as text (a char(n) keeps its blanks, as PostgreSQL's
    /// bpchar operators do).
    fn bind_pattern_operands(
        &mut self,
        f: crate::pattern::PatternFn,
        symbol: &str,
        operands: &[&ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let mut args = Vec::with_capacity(operands.len());
        let mut left_type = None;
        for (i, o) in operands.iter().enumerate() {
            let (e, t) = self.bind_expr_hint(o, scope, ctx, Some(DataType::Text))?;
            if !t.is_string() && t != DataType::Unknown {
                return Err(operator_missing(symbol, left_type, t));
            }
            left_type = Some(t);
            args.push(if i == 0 && matches!(t, DataType::Char(_)) {
                e
            } else {
                self.coerce(e, t, DataType::Text)?
            });
        }
        Ok((
            Expr::Call {
                func: Function::Pattern(f),
                args,
            },
            DataType::Bool,
        ))
    }

    /// `regexp_like`, `regexp_replace`, `regexp_count`, `regexp_instr`,
    /// `regexp_substr`.
    fn bind_pattern_call(
        &mut self,
        f: crate::pattern::PatternFn,
        name: &str,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            bound.push(self.bind_expr(a, scope, ctx)?);
        }
        let types: Vec<DataType> = bound.iter().map(|b| b.1).collect();
        let (arg_types, result) = f
            .signature(&types)
            .ok_or_else(|| no_such_call(name, &types))?;
        let args = bound
            .into_iter()
            .zip(arg_types)
            .map(|((e, from), to)| self.coerce(e, from, to))
            .collect::<Result<Vec<_>>>()?;
        Ok((
            Expr::Call {
                func: Function::Pattern(f),
                args,
            },
            result,
        ))
    }

    /// A mathematical function of unbound arguments (`CEIL(x)`, `x ^ y`).
    fn bind_math_call(
        &mut self,
        f: crate::math::MathFn,
        name: &str,
        args: &[&ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<(Expr, DataType)> {
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            bound.push(self.bind_expr(a, scope, ctx)?);
        }
        self.math_call(f, name, bound)
    }

    /// ALTER SEQUENCE: unset options keep their values, RESTART sets the
    /// next value (START's without a value), OWNED BY changes the owner.
    fn bind_alter_sequence(
        &mut self,
        alter: &crate::parser::AlterSequence,
        name: &ast::ObjectName,
        t: Option<&ast::DataType>,
        options: &[ast::SequenceOptions],
        owned_by: Option<&ast::ObjectName>,
    ) -> Result<Plan> {
        let (q, schema) = self.ddl_schema(name)?;
        let n = q.shown();
        let Some(old) = schema.and_then(|s| self.catalog.sequence(s, &q.name).cloned()) else {
            if alter.if_exists {
                return Ok(Plan::AlterSequence {
                    sequence: None,
                    changed: false,
                    restart: None,
                    notices: vec![format!("relation \"{n}\" does not exist, skipping")],
                });
            }
            return Err(if schema.is_some() {
                Error::new(
                    sqlstate::WRONG_OBJECT_TYPE,
                    format!("\"{}\" is not a sequence", q.name),
                )
            } else {
                Error::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("relation \"{n}\" does not exist"),
                )
            });
        };
        let given = self.sequence_options(options)?;
        let merged = tessera_types::sequence::SequenceOptions {
            data_type: Some(match t {
                Some(t) => data_type(t)?,
                None => old.data_type,
            }),
            increment: given.increment.or(Some(old.increment)),
            min: given.min.or(Some(Some(old.min))),
            max: given.max.or(Some(Some(old.max))),
            start: given.start.or(Some(old.start)),
            cache: given.cache.or(Some(old.cache)),
            cycle: given.cycle.or(Some(old.cycle)),
        };
        let mut sequence = tessera_types::SequenceDef::new(old.name.clone(), &merged)?;
        sequence.schema = old.schema;
        sequence.id = old.id;
        sequence.state = old.state.clone();
        sequence.owned_by = old.owned_by;
        if owned_by.is_some() {
            let created = self.bind_create_sequence(false, name, None, &[], owned_by)?;
            if let Plan::CreateSequence { sequence: s, .. } = created {
                sequence.owned_by = s.owned_by;
            }
        }
        let restart = match &alter.restart {
            None => None,
            Some(None) => Some(sequence.start),
            Some(Some(e)) => {
                let v = option_integer(e)?;
                let bad = |m: String| Error::new(sqlstate::INVALID_PARAMETER_VALUE, m);
                if v < sequence.min {
                    return Err(bad(format!(
                        "RESTART value ({v}) cannot be less than MINVALUE ({})",
                        sequence.min
                    )));
                }
                if v > sequence.max {
                    return Err(bad(format!(
                        "RESTART value ({v}) cannot be greater than MAXVALUE ({})",
                        sequence.max
                    )));
                }
                Some(v)
            }
        };
        let changed = sequence != *old;
        Ok(Plan::AlterSequence {
            sequence: Some(Arc::new(sequence)),
            changed,
            restart,
            notices: vec![],
        })
    }

    /// `nextval(seq)`, `currval(seq)`, `setval(seq, v [, is_called])`,
    /// `lastval()`; the sequence is named by a constant (text or
    /// `'name'::regclass`), resolved now.
    fn bind_sequence_function(
        &mut self,
        name: &str,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Option<(Expr, DataType)>> {
        let op = match (name, args.len()) {
            ("nextval", 1) => SequenceOp::Next,
            ("currval", 1) => SequenceOp::Current,
            ("setval", 2 | 3) => SequenceOp::Set,
            ("lastval", 0) => SequenceOp::Last,
            _ => return Ok(None),
        };
        let seq = match args.first() {
            Some(first) if op != SequenceOp::Last => {
                let Some(text) = constant_text(first) else {
                    return Err(Error::unsupported(format!(
                        "{name}() of a sequence not named by a constant"
                    )));
                };
                Some(self.sequence_named(&text)?)
            }
            _ => None,
        };
        let mut bound = Vec::new();
        if op == SequenceOp::Set {
            let (v, t) = self.bind_expr_hint(&args[1], scope, ctx, Some(DataType::Int8))?;
            bound.push(self.coerce(v, t, DataType::Int8)?);
            if let Some(flag) = args.get(2) {
                let (b, t) = self.bind_expr_hint(flag, scope, ctx, Some(DataType::Bool))?;
                bound.push(self.coerce(b, t, DataType::Bool)?);
            }
        }
        self.uses_sequences = true;
        Ok(Some((
            Expr::Sequence {
                op,
                seq,
                args: bound,
            },
            DataType::Int8,
        )))
    }

    /// `current_schema()` and `current_schemas(implicit)`: what the
    /// statement's search_path resolves to, constants of the statement (a
    /// prepared one is bound again when search_path changes).
    fn bind_schema_function(
        &mut self,
        name: &str,
        args: &[ast::Expr],
        scope: &Scope,
        ctx: &mut Ctx,
    ) -> Result<Option<(Expr, DataType)>> {
        match (name, args) {
            ("current_schema", []) => Ok(Some(self.current_schema())),
            ("current_schemas", [implicit]) => {
                let (x, t) = self.bind_expr_hint(implicit, scope, ctx, Some(DataType::Bool))?;
                let x = self.coerce(x, t, DataType::Bool)?;
                let value = match &x {
                    Expr::Literal(v) => v.clone(),
                    e if constant(e) && !matches!(e, Expr::Param(_) | Expr::Subquery(_)) => {
                        e.eval(&[], &crate::expr::Params::default())?
                    }
                    _ => {
                        return Err(Error::unsupported(
                            "current_schemas() of an argument that is not a constant",
                        ))
                    }
                };
                let t = DataType::Array(Elem::Text);
                let schemas = match value {
                    Value::Bool(true) => self.names.schemas_with_implicit(self.catalog),
                    Value::Bool(false) => self.names.schemas(self.catalog),
                    _ => return Ok(Some((Expr::Literal(Value::Null), t))),
                };
                let items = schemas
                    .into_iter()
                    .map(|s| Value::Text(self.catalog.schema_name(s).to_string()))
                    .collect();
                let array = tessera_types::array::Array {
                    elem: Elem::Text,
                    items,
                };
                Ok(Some((Expr::Literal(Value::Array(Box::new(array))), t)))
            }
            _ => Ok(None),
        }
    }

    /// `current_schema`: the first schema of the search path that exists,
    /// or NULL.
    fn current_schema(&self) -> (Expr, DataType) {
        let value = match self.names.schemas(self.catalog).first() {
            Some(s) => Value::Text(self.catalog.schema_name(*s).to_string()),
            None => Value::Null,
        };
        (Expr::Literal(value), DataType::Text)
    }

    /// The sequence a regclass text names (`name`, `"Name"`, `public.name`).
    fn sequence_named(&self, text: &str) -> Result<Arc<tessera_types::SequenceDef>> {
        let parts = crate::parser::parse_object_name(text)?;
        let (q, schema) = self.ddl_schema(&parts)?;
        let name = &q.name;
        match schema {
            Some(s) if self.catalog.sequence(s, name).is_some() => {
                Ok(self.catalog.sequence(s, name).cloned().expect("checked"))
            }
            Some(_) => Err(Error::new(
                sqlstate::WRONG_OBJECT_TYPE,
                format!("\"{name}\" is not a sequence"),
            )),
            None => Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                format!("relation \"{}\" does not exist", q.shown()),
            )),
        }
    }

    fn bind_create_table(&mut self, ct: &ast::CreateTable, parsed: &Parsed) -> Result<Plan> {
        if let Some(query) = &ct.query {
            return self.bind_create_table_as(ct, query, parsed);
        }
        let distributed_by = parsed.distributed_by.as_deref();
        if ct.temporary {
            return Err(Error::unsupported("TEMPORARY tables"));
        }
        if ct.like.is_some() || ct.clone.is_some() {
            return Err(Error::unsupported("CREATE TABLE … LIKE"));
        }
        let tier_option = match &ct.table_options {
            ast::CreateTableOptions::None => None,
            ast::CreateTableOptions::With(options) => storage_parameters(options)?,
            other => return Err(Error::unsupported(format!("the table options {other}"))),
        };
        let q = self.qualified(&ct.name)?;
        let schema = self.creation_schema(&q)?;
        let name = q.name;
        let mut columns: Vec<ColumnDef> = Vec::new();
        let mut sequences: Vec<(tessera_types::SequenceDef, u32)> = Vec::new();
        // CHECK constraints: given name, expression.
        let mut checks: Vec<(Option<String>, &ast::Expr)> = Vec::new();
        let mut foreign: Vec<ForeignKeyAst> = Vec::new();
        let mut primary_key: Vec<usize> = Vec::new();
        let mut pk_declared = false;
        // UNIQUE constraints: optional name, columns.
        let mut unique: Vec<(Option<String>, Vec<usize>)> = Vec::new();
        let multiple_pk = || {
            Error::new(
                sqlstate::INVALID_TABLE_DEFINITION,
                format!("multiple primary keys for table \"{name}\" are not allowed"),
            )
        };
        for (i, c) in ct.columns.iter().enumerate() {
            let cname = ident_name(&c.name);
            if columns.iter().any(|x| x.name == cname) {
                return Err(Error::new(
                    sqlstate::DUPLICATE_COLUMN,
                    format!("column \"{cname}\" specified more than once"),
                ));
            }
            let mut not_null = false;
            let misdeclared = |what: &str| {
                Error::syntax(format!("{what} for column \"{cname}\" of table \"{name}\""))
            };
            let serial = serial_type(&c.data_type);
            let column_type = match serial {
                Some(t) => t,
                None => self.resolve_type(&c.data_type)?,
            };
            let mut default = None;
            let mut identity = None;
            // serial, or an identity column: a sequence owned by the column.
            if serial.is_some() {
                let seq = self.owned_sequence(
                    schema,
                    &name,
                    &cname,
                    column_type,
                    &Default::default(),
                    &sequences,
                )?;
                default = Some(nextval_default(&seq.name));
                sequences.push((seq, i as u32));
                not_null = true;
            }
            for opt in &c.options {
                match &opt.option {
                    ast::ColumnOption::NotNull => not_null = true,
                    ast::ColumnOption::Null => {}
                    ast::ColumnOption::Unique {
                        is_primary: true, ..
                    } => {
                        if pk_declared {
                            return Err(multiple_pk());
                        }
                        pk_declared = true;
                        primary_key.push(i);
                        not_null = true;
                    }
                    ast::ColumnOption::Unique {
                        is_primary: false, ..
                    } => unique.push((None, vec![i])),
                    ast::ColumnOption::Default(e) => {
                        if identity.is_some() {
                            return Err(misdeclared("both default and identity specified"));
                        }
                        if default.is_some() {
                            return Err(misdeclared("multiple default values specified"));
                        }
                        default = Some(self.check_default(e, column_type, &cname)?);
                    }
                    ast::ColumnOption::Generated {
                        generated_as:
                            kind @ (ast::GeneratedAs::Always | ast::GeneratedAs::ByDefault),
                        sequence_options,
                        generation_expr: None,
                        ..
                    } => {
                        if identity.is_some() {
                            return Err(misdeclared("multiple identity specifications"));
                        }
                        if default.is_some() {
                            return Err(misdeclared("both default and identity specified"));
                        }
                        if tessera_types::sequence::type_bounds(column_type).is_none() {
                            return Err(Error::new(
                                sqlstate::INVALID_PARAMETER_VALUE,
                                "identity column type must be smallint, integer, or bigint",
                            ));
                        }
                        let options =
                            self.sequence_options(sequence_options.as_deref().unwrap_or(&[]))?;
                        let seq = self.owned_sequence(
                            schema,
                            &name,
                            &cname,
                            column_type,
                            &options,
                            &sequences,
                        )?;
                        default = Some(nextval_default(&seq.name));
                        sequences.push((seq, i as u32));
                        identity = Some(if *kind == ast::GeneratedAs::Always {
                            tessera_types::Identity::Always
                        } else {
                            tessera_types::Identity::ByDefault
                        });
                        not_null = true;
                    }
                    ast::ColumnOption::Generated { .. } => {
                        return Err(Error::unsupported("generated columns"))
                    }
                    ast::ColumnOption::Check(e) => {
                        checks.push((opt.name.as_ref().map(ident_name), e))
                    }
                    ast::ColumnOption::ForeignKey {
                        foreign_table,
                        referred_columns,
                        on_delete,
                        on_update,
                        characteristics,
                    } => foreign.push(ForeignKeyAst {
                        name: opt.name.as_ref().map(ident_name),
                        columns: vec![c.name.clone()],
                        parent: foreign_table,
                        referred: referred_columns,
                        on_delete: *on_delete,
                        on_update: *on_update,
                        deferrable: characteristics.is_some(),
                    }),
                    other => {
                        return Err(Error::unsupported(format!("the column constraint {other}")))
                    }
                }
            }
            let mut column = ColumnDef::new(cname, column_type, not_null);
            column.default = default;
            column.identity = identity;
            column.domain = self.domain_of(&c.data_type)?.map(|d| d.oid);
            columns.push(column);
        }
        if columns.is_empty() {
            return Err(Error::unsupported("tables without columns"));
        }
        for con in &ct.constraints {
            match con {
                ast::TableConstraint::PrimaryKey { columns: cols, .. } => {
                    if pk_declared {
                        return Err(multiple_pk());
                    }
                    pk_declared = true;
                    for c in cols {
                        let n = key_column_name(c)?;
                        let i = columns.iter().position(|x| x.name == n).ok_or_else(|| {
                            Error::new(
                                sqlstate::UNDEFINED_COLUMN,
                                format!("column \"{n}\" named in key does not exist"),
                            )
                        })?;
                        if primary_key.contains(&i) {
                            return Err(Error::new(
                                sqlstate::DUPLICATE_COLUMN,
                                format!("column \"{n}\" appears twice in primary key constraint"),
                            ));
                        }
                        primary_key.push(i);
                        columns[i].not_null = true;
                    }
                }
                ast::TableConstraint::Unique {
                    name,
                    columns: cols,
                    ..
                } => {
                    let mut key = Vec::new();
                    for c in cols {
                        let n = key_column_name(c)?;
                        let i = columns.iter().position(|x| x.name == n).ok_or_else(|| {
                            Error::new(
                                sqlstate::UNDEFINED_COLUMN,
                                format!("column \"{n}\" named in key does not exist"),
                            )
                        })?;
                        key.push(i);
                    }
                    unique.push((name.as_ref().map(ident_name), key));
                }
                ast::TableConstraint::Check {
                    name,
                    expr,
                    enforced: None,
                } => checks.push((name.as_ref().map(ident_name), expr)),
                c @ ast::TableConstraint::ForeignKey { .. } => {
                    foreign.extend(ForeignKeyAst::of(c));
                }
                other => return Err(Error::unsupported(format!("the table constraint {other}"))),
            }
        }
        keyable(&columns, &primary_key)?;
        for (_, key) in &unique {
            keyable(&columns, key)?;
        }
        let sharding_key = match distributed_by {
            // A global table's rows are everywhere: no key picks a place.
            None if parsed.distributed_globally => vec![],
            None => primary_key.clone(),
            Some(cols) => {
                let mut key = Vec::new();
                for c in cols {
                    let n = ident_name(c);
                    let i = columns.iter().position(|x| x.name == n).ok_or_else(|| {
                        Error::new(
                            sqlstate::UNDEFINED_COLUMN,
                            format!("column \"{n}\" named in DISTRIBUTED BY does not exist"),
                        )
                    })?;
                    if !primary_key.is_empty() && !primary_key.contains(&i) {
                        return Err(Error::unsupported(format!(
                            "a sharding key column (\"{n}\") outside the primary key"
                        ))
                        .with_hint("Rows with equal primary keys must land on one shard; distribute by primary-key columns."));
                    }
                    key.push(i);
                }
                key
            }
        };
        // PostgreSQL's names: table_col…_key, numbered if taken.
        let mut unique_keys = Vec::new();
        for (given, key) in unique {
            let name = match given {
                Some(n) => n,
                None => unused_name(key_name(&name, &columns, &key, "key"), |c| {
                    self.catalog.relation_exists(schema, c)
                        || unique_keys.iter().any(|(u, _)| u == c)
                }),
            };
            // A key equal to the primary key adds nothing.
            if key != primary_key {
                unique_keys.push((name, key));
            }
        }
        let mut table = TableDef {
            id: 0,
            name,
            schema,
            columns,
            primary_key,
            sharding_key,
            global: parsed.distributed_globally,
            tier: self.tier_of(parsed, tier_option)?,
            checks: vec![],
            foreign_keys: vec![],
        };
        // PostgreSQL's names: table_col_check when it reads one column,
        // else table_check; numbered if taken.
        for (given, e) in checks {
            let (text, only) = self.check_check(&table, e)?;
            let name = match given {
                Some(n) => {
                    if table.checks.iter().any(|(c, _)| *c == n) {
                        return Err(Error::new(
                            sqlstate::DUPLICATE_OBJECT,
                            format!("check constraint \"{n}\" already exists"),
                        ));
                    }
                    n
                }
                None => check_name(&table, only),
            };
            table.checks.push((name, text));
        }
        for fk in &foreign {
            let fk = self.foreign_key(&table, fk)?;
            table.foreign_keys.push(fk);
        }
        Ok(Plan::CreateTable {
            table,
            unique: unique_keys,
            sequences,
            if_not_exists: ct.if_not_exists,
        })
    }
}

/// PostgreSQL's storage parameters of tables (`CREATE TABLE … WITH (…)`).
const STORAGE_PARAMETERS: &[&str] = &[
    "fillfactor",
    "toast_tuple_target",
    "parallel_workers",
    "autovacuum_enabled",
    "vacuum_index_cleanup",
    "vacuum_truncate",
    "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_analyze_threshold",
    "autovacuum_analyze_scale_factor",
    "autovacuum_vacuum_cost_delay",
    "autovacuum_vacuum_cost_limit",
    "autovacuum_freeze_min_age",
    "autovacuum_freeze_max_age",
    "autovacuum_freeze_table_age",
    "autovacuum_multixact_freeze_min_age",
    "autovacuum_multixact_freeze_max_age",
    "autovacuum_multixact_freeze_table_age",
    "log_autovacuum_min_duration",
    "user_catalog_table",
];

/// The rewrite of `table` keyed and sharded by `key` (ADD PRIMARY KEY),
/// or by hidden row ids with no key (the key dropped, then column
/// `then_drop` if set).
fn rekeyed(table: &Arc<TableDef>, key: Vec<usize>, then_drop: Option<String>) -> Plan {
    let mut new = (**table).clone();
    new.primary_key = key.clone();
    new.sharding_key = key.clone();
    for c in &key {
        new.columns[*c].not_null = true;
    }
    Plan::RewriteTable {
        table: table.clone(),
        new: Box::new(new),
        key,
        then_drop,
    }
}

/// Checks `WITH (…)` of CREATE TABLE: `fillfactor` must be 10 to 100 (it
/// means nothing to in-memory tables, so it is then ignored), `oids =
/// false` is accepted as in PostgreSQL; other storage parameters are 0A000
/// and unknown ones 22023, with PostgreSQL's messages.
fn storage_parameters(options: &[ast::SqlOption]) -> Result<Option<String>> {
    let mut tier = None;
    let mut seen: Vec<String> = Vec::new();
    for option in options {
        let (name, value) = match option {
            ast::SqlOption::KeyValue { key, value } => (ident_name(key), Some(value)),
            ast::SqlOption::Ident(key) => (ident_name(key), None),
            other => return Err(Error::unsupported(format!("the table option {other}"))),
        };
        let text = match value {
            None => "true".to_string(),
            Some(ast::Expr::Value(v)) => match &v.value {
                ast::Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            Some(ast::Expr::Identifier(i)) => i.value.clone(),
            Some(other) => other.to_string(),
        };
        if name == "oids" {
            match text.to_lowercase().as_str() {
                "false" | "off" | "0" | "no" => continue,
                _ => return Err(Error::unsupported("tables declared WITH OIDS")),
            }
        }
        if seen.contains(&name) {
            return Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("parameter \"{name}\" specified more than once"),
            ));
        }
        seen.push(name.clone());
        if name == "tier" {
            // Tessera's: the tier the table lives in (`IN TIER`).
            tier = Some(text);
        } else if name == "fillfactor" {
            let value = text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(f64::round_ties_even)
                .ok_or_else(|| {
                    Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid value for integer option \"fillfactor\": {text}"),
                    )
                })?;
            if !(10.0..=100.0).contains(&value) {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("value {text} out of bounds for option \"fillfactor\""),
                )
                .with_detail("Valid values are between \"10\" and \"100\"."));
            }
        } else if STORAGE_PARAMETERS.contains(&name.as_str()) || name.starts_with("toast.") {
            return Err(Error::unsupported(format!(
                "the storage parameter \"{name}\""
            )));
        } else {
            return Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("unrecognized parameter \"{name}\""),
            ));
        }
    }
    Ok(tier)
}

/// The value `SET TIME ZONE x` stores: a zone name or number of hours as
/// written, an interval as hours (PostgreSQL shows both as `<+02:30>-02:30`);
/// `None` for `LOCAL` and `DEFAULT`.
fn time_zone_value(value: &ast::Expr) -> Result<Option<String>> {
    let invalid = |what: &str| {
        Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("invalid interval value for time zone: {what} not allowed"),
        )
    };
    Ok(Some(match value {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => s.clone(),
            ast::Value::Number(n, _) => n.clone(),
            other => {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{other}\""
                )))
            }
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => match time_zone_value(expr)? {
            Some(v) if v.parse::<f64>().is_ok() => format!("-{v}"),
            _ => return Err(Error::syntax("syntax error at or near \"-\"")),
        },
        ast::Expr::Identifier(i)
            if i.value.eq_ignore_ascii_case("local") || i.value.eq_ignore_ascii_case("default") =>
        {
            return Ok(None)
        }
        ast::Expr::Interval(interval) => {
            let text = match &*interval.value {
                ast::Expr::Value(v) => match &v.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                },
                other => return Err(Error::unsupported(format!("SET TIME ZONE {other}"))),
            };
            let fields = match (&interval.leading_field, &interval.last_field) {
                (None, None) => None,
                (Some(first), last) => {
                    let last = last.as_ref().map(extract_unit);
                    let fields = IntervalFields::from_names(&extract_unit(first), last.as_deref())
                        .ok_or_else(|| {
                            Error::syntax(format!("syntax error at or near \"{interval}\""))
                        })?;
                    Some(IntervalTypmod {
                        fields,
                        precision: None,
                    })
                }
                (None, Some(_)) => return Err(Error::syntax("syntax error in SET TIME ZONE")),
            };
            let span = datetime::Interval::parse(&text, fields)?;
            if span.months != 0 {
                return Err(invalid("month"));
            }
            if span.days != 0 {
                return Err(invalid("day"));
            }
            format!("{}", span.micros as f64 / datetime::USECS_PER_HOUR as f64)
        }
        other => return Err(Error::unsupported(format!("SET TIME ZONE {other}"))),
    }))
}

/// The isolation level and access mode a BEGIN or SET TRANSACTION names.
fn transaction_modes(
    modes: &[ast::TransactionMode],
) -> Result<(Option<crate::engine::Isolation>, Option<bool>)> {
    use crate::engine::Isolation;
    let mut isolation = None;
    let mut read_only = None;
    for m in modes {
        match m {
            ast::TransactionMode::IsolationLevel(level) => {
                isolation = Some(match level {
                    ast::TransactionIsolationLevel::ReadUncommitted
                    | ast::TransactionIsolationLevel::ReadCommitted => Isolation::ReadCommitted,
                    ast::TransactionIsolationLevel::RepeatableRead => Isolation::RepeatableRead,
                    ast::TransactionIsolationLevel::Serializable => Isolation::Serializable,
                    other => {
                        return Err(Error::unsupported(format!(
                            "ISOLATION LEVEL {other} in this version"
                        )))
                    }
                })
            }
            ast::TransactionMode::AccessMode(mode) => {
                read_only = Some(*mode == ast::TransactionAccessMode::ReadOnly)
            }
        }
    }
    Ok((isolation, read_only))
}

/// Whether `e` has one value for the whole statement, known before it
/// reads rows: a constant, a parameter, the statement's clock, or an
/// uncorrelated scalar subquery (run first).
/// A FOREIGN KEY clause as written (column or table constraint).
struct ForeignKeyAst<'a> {
    name: Option<String>,
    columns: Vec<ast::Ident>,
    parent: &'a ast::ObjectName,
    referred: &'a [ast::Ident],
    on_delete: Option<ast::ReferentialAction>,
    on_update: Option<ast::ReferentialAction>,
    deferrable: bool,
}

impl<'a> ForeignKeyAst<'a> {
    /// A table constraint's, if it is a FOREIGN KEY.
    fn of(c: &'a ast::TableConstraint) -> Option<ForeignKeyAst<'a>> {
        let ast::TableConstraint::ForeignKey {
            name,
            columns,
            foreign_table,
            referred_columns,
            on_delete,
            on_update,
            characteristics,
            ..
        } = c
        else {
            return None;
        };
        Some(ForeignKeyAst {
            name: name.as_ref().map(ident_name),
            columns: columns.clone(),
            parent: foreign_table,
            referred: referred_columns,
            on_delete: *on_delete,
            on_update: *on_update,
            deferrable: characteristics.is_some(),
        })
    }
}

/// The columns a view or CREATE TABLE … AS keeps of a query's: named by
/// `names` where given, an unknown-typed literal as text; a name twice is
/// 42701.
fn stored_columns(descs: &[ColumnDesc], names: &[String]) -> Result<Vec<(String, DataType)>> {
    let mut out: Vec<(String, DataType)> = Vec::with_capacity(descs.len());
    for (i, d) in descs.iter().enumerate() {
        let n = names.get(i).cloned().unwrap_or_else(|| d.name.clone());
        if out.iter().any(|(o, _)| *o == n) {
            return Err(Error::new(
                sqlstate::DUPLICATE_COLUMN,
                format!("column \"{n}\" specified more than once"),
            ));
        }
        let t = match d.data_type {
            DataType::Unknown => DataType::Text,
            t => t,
        };
        out.push((n, t));
    }
    Ok(out)
}

/// PostgreSQL's name for a new CHECK constraint of `table`:
/// table_col_check when it reads only column `only`, else table_check;
/// numbered if taken.
fn check_name(table: &TableDef, only: Option<usize>) -> String {
    let base = match only.map(|c| &table.columns[c].name) {
        Some(c) => format!("{}_{c}_check", table.name),
        None => format!("{}_check", table.name),
    };
    unused_name(base, |n| table.checks.iter().any(|(c, _)| c == n))
}

/// PostgreSQL's base name for a key over `key` of table `table`:
/// `table_col1_col2_suffix`.
fn key_name(table: &str, columns: &[ColumnDef], key: &[usize], suffix: &str) -> String {
    let cols: Vec<&str> = key.iter().map(|c| columns[*c].name.as_str()).collect();
    format!("{table}_{}_{suffix}", cols.join("_"))
}

/// `base`, or `base1`, `base2`… while `taken` says the name is in use, as
/// PostgreSQL chooses names for constraints, indexes and sequences.
fn unused_name(base: String, taken: impl Fn(&str) -> bool) -> String {
    let mut name = base.clone();
    let mut n = 0;
    while taken(&name) {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// A name as SQL text, quoted.
pub(crate) fn quote_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// 42883 for `name` called with arguments of `types`.
fn no_such_call(name: &str, types: &[DataType]) -> Error {
    let types: Vec<String> = types.iter().map(|t| t.name()).collect();
    no_such_function(&format!("{name}({})", types.join(", ")))
}

/// The DEFAULT keyword where a value may stand (VALUES, UPDATE SET).
fn is_default(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

/// A value given for a GENERATED ALWAYS identity column: 428C9.
fn generated_always(column: &ColumnDef, update: bool) -> Result<()> {
    if column.identity != Some(tessera_types::Identity::Always) {
        return Ok(());
    }
    let n = &column.name;
    let (message, hint) = if update {
        (
            format!("column \"{n}\" can only be updated to DEFAULT"),
            None,
        )
    } else {
        (
            format!("cannot insert a non-DEFAULT value into column \"{n}\""),
            Some("Use OVERRIDING SYSTEM VALUE to override."),
        )
    };
    let e = Error::new(sqlstate::GENERATED_ALWAYS, message).with_detail(format!(
        "Column \"{n}\" is an identity column defined as GENERATED ALWAYS."
    ));
    Err(match hint {
        Some(h) => e.with_hint(h),
        None => e,
    })
}

/// `serial`, `bigserial`, `smallserial` (and `serial2/4/8`): the integer
/// type they stand for.
fn serial_type(t: &ast::DataType) -> Option<DataType> {
    let ast::DataType::Custom(name, modifiers) = t else {
        return None;
    };
    let [ast::ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    match ident_name(ident).as_str() {
        "serial" | "serial4" => Some(DataType::Int4),
        "bigserial" | "serial8" => Some(DataType::Int8),
        "smallserial" | "serial2" => Some(DataType::Int2),
        _ => None,
    }
}

/// The default of a serial or identity column, as PostgreSQL shows it.
fn nextval_default(sequence: &str) -> String {
    let quoted = if sequence
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        sequence.to_string()
    } else {
        format!("\"{}\"", sequence.replace('"', "\"\""))
    };
    format!("nextval('{}'::regclass)", quoted.replace('\'', "''"))
}

/// A string constant, possibly cast (`'s'::regclass`, `'s'::text`).
fn constant_text(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        ast::Expr::Cast { expr, .. } | ast::Expr::Nested(expr) => constant_text(expr),
        _ => None,
    }
}

/// An integer in a sequence option (`INCREMENT BY -1`).
fn option_integer(e: &ast::Expr) -> Result<i64> {
    let bad = || Error::syntax(format!("syntax error at or near \"{e}\""));
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse::<i64>().map_err(|_| {
                Error::new(
                    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                    format!("value \"{n}\" is out of range for type bigint"),
                )
            }),
            _ => Err(bad()),
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => option_integer(expr)?.checked_neg().ok_or_else(bad),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Plus,
            expr,
        } => option_integer(expr),
        _ => Err(bad()),
    }
}

fn constant(e: &Expr) -> bool {
    match e {
        Expr::Literal(v) => !v.is_null(),
        Expr::Param(_) | Expr::Now(Clock::Transaction | Clock::Statement) => true,
        Expr::Cast { expr, .. } => constant(expr),
        Expr::Subquery(sub) => {
            sub.kind == SubqueryKind::Scalar && matches!(sub.query, SubqueryRows::Init(_))
        }
        _ => false,
    }
}

/// Decides where a statement over `table` with `filter` must run: the
/// shard of one bucket when every sharding-key column is fixed by an
/// equality with a constant or parameter, and a point lookup when every
/// primary-key column is.
fn route(table: &TableDef, filter: Option<&Expr>) -> (Target, Option<Vec<Expr>>) {
    let mut fixed: Vec<Option<Expr>> = vec![None; table.columns.len()];
    fn walk(e: &Expr, fixed: &mut [Option<Expr>]) {
        match e {
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
            } => {
                walk(left, fixed);
                walk(right, fixed);
            }
            Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
            } => match (&**left, &**right) {
                (Expr::Column(c), other) | (other, Expr::Column(c)) if constant(other) => {
                    if let Some(slot) = fixed.get_mut(*c) {
                        *slot = Some(other.clone());
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    if let Some(f) = filter {
        walk(f, &mut fixed);
    }
    let pick = |cols: &[usize]| -> Option<Vec<Expr>> {
        if cols.is_empty() {
            return None;
        }
        cols.iter().map(|c| fixed[*c].clone()).collect()
    };
    let target = match pick(&table.sharding_key) {
        Some(values) => Target::ShardingKey(values),
        None => Target::AllShards,
    };
    (target, pick(&table.primary_key))
}

/// A comparison of a column of `table` (as stored: integers of any width
/// encode alike in keys, so a widening cast is still the column) with a
/// constant or parameter, as `column op value`.
fn column_comparison(e: &Expr, table: &TableDef) -> Option<(usize, Expr, BinaryOp)> {
    fn column(e: &Expr, table: &TableDef) -> Option<usize> {
        match e {
            Expr::Column(c) => Some(*c),
            Expr::Cast { expr, to, .. } => match &**expr {
                Expr::Column(c)
                    if to.is_integer() && table.columns.get(*c)?.data_type.is_integer() =>
                {
                    Some(*c)
                }
                _ => None,
            },
            _ => None,
        }
    }
    let Expr::Binary { op, left, right } = e else {
        return None;
    };
    match (column(left, table), column(right, table)) {
        (Some(c), _) if constant(right) => Some((c, (**right).clone(), *op)),
        (_, Some(c)) if constant(left) => Some((c, (**left).clone(), op.flipped())),
        _ => None,
    }
}

/// A bound on several columns at once: a row comparison such as
/// `(a, b) > (x, y)`, which the binder expands (see `binder::row`) to
/// `a >= x AND (a > x OR (a = x AND b > y))`; this is the OR, read back.
#[derive(Debug)]
struct RowBound {
    columns: Vec<usize>,
    values: Vec<Expr>,
    /// `>`/`>=` (else `<`/`<=`).
    lower: bool,
    inclusive: bool,
}

impl RowBound {
    /// `c0 > v0 OR (c0 = v0 AND rest)`, `rest` the same shape again or
    /// the last field's own comparison.
    fn of(e: &Expr, table: &TableDef) -> Option<RowBound> {
        let mut bound = RowBound {
            columns: Vec::new(),
            values: Vec::new(),
            lower: true,
            inclusive: false,
        };
        let mut e = e;
        loop {
            let same_side =
                |lower: bool, bound: &RowBound| bound.columns.is_empty() || bound.lower == lower;
            if let Expr::Binary {
                op: BinaryOp::Or,
                left,
                right,
            } = e
            {
                let (c, v, op) = column_comparison(left, table)?;
                let lower = match op {
                    BinaryOp::Gt => true,
                    BinaryOp::Lt => false,
                    _ => return None,
                };
                let Expr::Binary {
                    op: BinaryOp::And,
                    left: tie,
                    right: rest,
                } = &**right
                else {
                    return None;
                };
                let (tie_column, tie_value, tie_op) = column_comparison(tie, table)?;
                if !same_side(lower, &bound)
                    || tie_op != BinaryOp::Eq
                    || tie_column != c
                    || tie_value != v
                {
                    return None;
                }
                bound.lower = lower;
                bound.columns.push(c);
                bound.values.push(v);
                e = rest;
                continue;
            }
            let (c, v, op) = column_comparison(e, table)?;
            let (lower, inclusive) = match op {
                BinaryOp::Gt => (true, false),
                BinaryOp::GtEq => (true, true),
                BinaryOp::Lt => (false, false),
                BinaryOp::LtEq => (false, true),
                _ => return None,
            };
            if bound.columns.is_empty() || !same_side(lower, &bound) {
                return None;
            }
            bound.columns.push(c);
            bound.values.push(v);
            bound.inclusive = inclusive;
            return Some(bound);
        }
    }
}

/// The column conditions of a filter's top-level conjunction that a
/// range of an index (or of the primary key) can serve.
#[derive(Default)]
struct KeyConditions {
    equal: HashMap<usize, Expr>,
    lower: HashMap<usize, (Expr, bool)>,
    upper: HashMap<usize, (Expr, bool)>,
    rows: Vec<RowBound>,
}

impl KeyConditions {
    fn of(filter: Option<&Expr>, table: &TableDef) -> KeyConditions {
        let mut found = KeyConditions::default();
        let mut stack: Vec<&Expr> = filter.into_iter().collect();
        while let Some(e) = stack.pop() {
            if let Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
            } = e
            {
                stack.push(left);
                stack.push(right);
                continue;
            }
            if let Some(row) = RowBound::of(e, table) {
                found.rows.push(row);
                continue;
            }
            let Some((c, value, op)) = column_comparison(e, table) else {
                continue;
            };
            match op {
                BinaryOp::Eq => {
                    found.equal.insert(c, value);
                }
                BinaryOp::Gt => {
                    found.lower.insert(c, (value, false));
                }
                BinaryOp::GtEq => {
                    found.lower.insert(c, (value, true));
                }
                BinaryOp::Lt => {
                    found.upper.insert(c, (value, false));
                }
                BinaryOp::LtEq => {
                    found.upper.insert(c, (value, true));
                }
                _ => {}
            }
        }
        found
    }

    /// The tightest-reaching bound on `rest` (the path's columns after
    /// its equality prefix), lower or upper: a row comparison over
    /// several of them (shortened to the columns it shares with the path,
    /// and then inclusive), else a comparison of the first.
    fn bound(&self, rest: &[usize], lower: bool) -> Option<(Vec<Expr>, bool)> {
        let first = rest.first()?;
        let single = match lower {
            true => self.lower.get(first),
            false => self.upper.get(first),
        };
        let mut best = single.map(|(e, inclusive)| (vec![e.clone()], *inclusive));
        for row in self.rows.iter().filter(|r| r.lower == lower) {
            let shared = row
                .columns
                .iter()
                .zip(rest)
                .take_while(|(a, b)| a == b)
                .count();
            if shared == 0 || best.as_ref().is_some_and(|(v, _)| v.len() >= shared) {
                continue;
            }
            let inclusive = shared < row.columns.len() || row.inclusive;
            best = Some((row.values[..shared].to_vec(), inclusive));
        }
        best
    }
}

/// The best path of `table` for `filter` (and for an ORDER BY over
/// `order` columns with a LIMIT): the primary key or the index whose
/// leading columns the most equalities fix, then one with a range on the
/// next column(s), then one whose order serves the ORDER BY. `None` when
/// none helps. The primary key wins ties: its rows need no second read.
fn choose_index(
    catalog: &Catalog,
    table: &TableDef,
    filter: Option<&Expr>,
    order: Option<&[usize]>,
    descending: bool,
    limit: Option<(Expr, Option<Expr>)>,
) -> Option<crate::plan::IndexScan> {
    let found = KeyConditions::of(filter, table);
    // (index, its columns, unique); `None`: the primary key. A table
    // without one has a hidden row id no condition names.
    // JSON values key equality only: their keys do not order as they
    // compare.
    let key_ordered = table.primary_key.iter().all(|c| {
        !matches!(
            table.columns[*c].data_type,
            DataType::Json | DataType::Jsonb
        )
    });
    let primary = (!table.has_row_id() && key_ordered).then_some((None, &table.primary_key, true));
    let indexes = catalog
        .indexes_of(table.id)
        .filter(|i| i.is_valid())
        .map(|i| (Some(i), &i.columns, i.unique));
    let mut best: Option<(usize, crate::plan::IndexScan)> = None;
    for (index, columns, unique) in primary.into_iter().chain(indexes) {
        let prefix = columns
            .iter()
            .take_while(|c| found.equal.contains_key(c))
            .count();
        let lo = found.bound(&columns[prefix..], true);
        let hi = found.bound(&columns[prefix..], false);
        // Entries of a non-unique index are ordered by the row's primary
        // key after the indexed columns.
        let mut entry_order = columns[prefix..].to_vec();
        if !unique {
            entry_order.extend(&table.primary_key);
        }
        let ordered = order.is_some_and(|o| entry_order.starts_with(o));
        // A global index's entries are not beside their rows: the router
        // reads through one only to find the row of one value.
        let whole = prefix == columns.len();
        if index.is_some_and(|i| i.is_global(table)) && !whole {
            continue;
        }
        // A unique index has no entries for rows with a NULL in its
        // columns: it finds all the rows only when none can pass.
        let complete = index.is_none()
            || !unique
            || columns.iter().all(|c| {
                table.columns[*c].not_null
                    || table.primary_key.contains(c)
                    || found.equal.contains_key(c)
                    || found.lower.contains_key(c)
                    || found.upper.contains_key(c)
            });
        if !complete {
            continue;
        }
        let score = if whole && unique {
            100
        } else {
            prefix * 4 + 2 * (lo.is_some() || hi.is_some()) as usize + ordered as usize
        };
        if score == 0 || best.as_ref().is_some_and(|(s, _)| *s >= score) {
            continue;
        }
        let scan = crate::plan::IndexScan {
            index: index.cloned(),
            equal: columns[..prefix]
                .iter()
                .map(|c| found.equal[c].clone())
                .collect(),
            lower: lo,
            upper: hi,
            reverse: ordered && descending,
            limit: if ordered { limit.clone() } else { None },
        };
        best = Some((score, scan));
    }
    best.map(|(_, scan)| scan)
}

/// The type the branches of CASE or the arguments of COALESCE, GREATEST,
/// LEAST and NULLIF resolve to so far: untyped ones (NULL, a string
/// literal) wait for a typed one, and default to text only at the end.
fn unify(a: DataType, b: DataType) -> Option<DataType> {
    if a == DataType::Unknown && b == DataType::Unknown {
        return Some(DataType::Unknown);
    }
    DataType::common_type(a, b)
}

/// Moves the conditions of inner joins into `conditions` (their order no
/// longer matters once every join is inner).
/// Rewrites the ORs among a filter's conjuncts as PostgreSQL's planner
/// does, so that joins and pushed-down filters can use what they imply:
/// a conjunct every branch shares is taken out of the OR
/// (`(a AND x) OR (a AND y)` is `a AND (x OR y)`, also under NULLs), and
/// where every branch of an OR over several FROM items restricts one item
/// on its own, the OR of those restrictions is added for that item (it
/// holds whenever the OR does; the OR stays to check the rest).
/// `items_of` names the FROM items an expression reads.
fn factor_ors(conditions: Vec<Expr>, items_of: impl Fn(&Expr) -> Vec<usize>) -> Vec<Expr> {
    let mut out = Vec::with_capacity(conditions.len());
    for condition in conditions {
        let is_or = matches!(
            condition,
            Expr::Binary {
                op: BinaryOp::Or,
                ..
            }
        );
        if !is_or {
            out.push(condition);
            continue;
        }
        let mut branches: Vec<Vec<Expr>> = condition
            .disjuncts()
            .into_iter()
            .map(Expr::conjuncts)
            .collect();
        let mut common: Vec<Expr> = Vec::new();
        for c in &branches[0] {
            if !common.contains(c) && branches[1..].iter().all(|b| b.contains(c)) {
                common.push(c.clone());
            }
        }
        for branch in &mut branches {
            branch.retain(|c| !common.contains(c));
        }
        out.extend(common);
        // A branch left empty is true: so is the whole OR.
        if branches.iter().any(Vec::is_empty) {
            continue;
        }
        let mut items: Vec<usize> = branches.iter().flatten().flat_map(&items_of).collect();
        items.sort_unstable();
        items.dedup();
        if items.len() > 1 {
            for item in items {
                let restrictions: Option<Vec<Expr>> = branches
                    .iter()
                    .map(|b| {
                        let own: Vec<Expr> = b
                            .iter()
                            .filter(|c| items_of(c) == [item])
                            .cloned()
                            .collect();
                        Expr::all(own)
                    })
                    .collect();
                if let Some(derived) = restrictions.and_then(Expr::either) {
                    out.push(derived);
                }
            }
        }
        out.extend(Expr::either(
            branches.into_iter().filter_map(Expr::all).collect(),
        ));
    }
    out
}

fn take_conditions(tree: &mut JoinTree, conditions: &mut Vec<Expr>) {
    if let JoinTree::Join {
        left, right, on, ..
    } = tree
    {
        conditions.append(on);
        take_conditions(left, conditions);
        take_conditions(right, conditions);
    }
}

/// A reference to `column` of the FROM item `qualifier`, exactly as named.
/// Marks a column `*` refers to by its place: a name no identifier can
/// spell (a client's text cannot hold NUL).
const STAR_PLACE: char = '\0';

/// What `*` expands to for column `k` of `columns`: a reference by name,
/// or by place when another column has the same name (`SELECT * FROM
/// (SELECT 1 AS a, 2 AS a) t` returns both).
fn star_ref(qualifier: &str, columns: &[(String, DataType)], k: usize) -> ast::Expr {
    let name = &columns[k].0;
    if columns.iter().filter(|(n, _)| n == name).count() > 1 {
        column_ref(qualifier, &format!("{name}{STAR_PLACE}{k}"))
    } else {
        column_ref(qualifier, name)
    }
}

fn column_ref(qualifier: &str, column: &str) -> ast::Expr {
    ast::Expr::CompoundIdentifier(vec![
        ast::Ident::with_quote('"', qualifier),
        ast::Ident::with_quote('"', column),
    ])
}

/// A date/time or interval type (the operands of date/time arithmetic).
fn is_temporal(t: DataType) -> bool {
    t.is_datetime() || matches!(t, DataType::Interval(_))
}

/// PostgreSQL's arithmetic operators on dates, times and intervals:
/// (left, right, result).
fn temporal_operators(op: BinaryOp) -> &'static [(DataType, DataType, DataType)] {
    use DataType::{Date, Float8, Int4};
    const I: DataType = DataType::Interval(None);
    const TS: DataType = DataType::Timestamp(None);
    const TZ: DataType = DataType::TimestampTz(None);
    const T: DataType = DataType::Time(None);
    const TTZ: DataType = DataType::TimeTz(None);
    match op {
        BinaryOp::Add => &[
            (Date, Int4, Date),
            (Int4, Date, Date),
            (Date, T, TS),
            (Date, I, TS),
            (Date, TTZ, TZ),
            (T, Date, TS),
            (T, I, T),
            (TS, I, TS),
            (TZ, I, TZ),
            (I, Date, TS),
            (I, T, T),
            (I, TS, TS),
            (I, TZ, TZ),
            (I, I, I),
            (I, TTZ, TTZ),
            (TTZ, I, TTZ),
            (TTZ, Date, TZ),
        ],
        BinaryOp::Sub => &[
            (Date, Int4, Date),
            (Date, Date, Int4),
            (Date, I, TS),
            (T, T, I),
            (T, I, T),
            (TS, TS, I),
            (TS, I, TS),
            (TZ, TZ, I),
            (TZ, I, TZ),
            (I, I, I),
            (TTZ, I, TTZ),
        ],
        BinaryOp::Mul => &[(Float8, I, I), (I, Float8, I)],
        BinaryOp::Div => &[(I, Float8, I)],
        _ => &[],
    }
}

/// Whether a value of `from` converts to `to` implicitly (an untyped
/// literal or parameter converts to anything).
fn implicitly(from: DataType, to: DataType) -> bool {
    let from = from.unconstrained();
    from == DataType::Unknown
        || from == to
        || DataType::common_type(from, to) == Some(to)
            && (to.is_numeric_family() || is_temporal(to))
}

/// PostgreSQL's type categories for operator resolution: (category,
/// whether the type is the category's preferred one).
fn category(t: DataType) -> (char, bool) {
    match t {
        DataType::TimestampTz(_) => ('D', true),
        t if t.is_datetime() => ('D', false),
        DataType::Interval(_) => ('T', true),
        DataType::Float8 => ('N', true),
        t if t.is_numeric_family() => ('N', false),
        DataType::Text => ('S', true),
        t if t.is_string() => ('S', false),
        _ => ('U', false),
    }
}

/// Picks the date/time arithmetic operator for operand types `lt` and `rt`
/// the way PostgreSQL's operator resolution does: an exact match (an
/// untyped operand taken as the other's type), else the candidates the
/// operands convert to implicitly, narrowed by exact matches, preferred
/// types, the untyped operand's category, and last by the known type.
/// 42883 when none fits, 42725 when several remain.
fn temporal_operator(
    op: BinaryOp,
    lt: DataType,
    rt: DataType,
) -> Result<(DataType, DataType, DataType)> {
    let (lt, rt) = (lt.unconstrained(), rt.unconstrained());
    let all = temporal_operators(op);
    let unknown = DataType::Unknown;
    let exact = |l: DataType, r: DataType| all.iter().find(|(a, b, _)| *a == l && *b == r);
    let known = match (lt == unknown, rt == unknown) {
        (true, false) => Some(rt),
        (false, true) => Some(lt),
        _ => None,
    };
    if let Some(c) = exact(lt, rt).or_else(|| known.and_then(|k| exact(k, k))) {
        return Ok(*c);
    }
    let inputs = [lt, rt];
    let mut candidates: Vec<&(DataType, DataType, DataType)> = all
        .iter()
        .filter(|(a, b, _)| implicitly(lt, *a) && implicitly(rt, *b))
        .collect();
    let args = |c: &(DataType, DataType, DataType)| [c.0, c.1];
    // Keep those scoring best, if any scores.
    let narrow = |candidates: &mut Vec<&(DataType, DataType, DataType)>,
                  score: &dyn Fn(&(DataType, DataType, DataType)) -> usize| {
        let best = candidates.iter().map(|c| score(c)).max().unwrap_or(0);
        if best > 0 {
            candidates.retain(|c| score(c) == best);
        }
    };
    if candidates.len() > 1 {
        narrow(&mut candidates, &|c| {
            args(c)
                .iter()
                .zip(inputs)
                .filter(|(a, i)| *i != unknown && **a == *i)
                .count()
        });
    }
    if candidates.len() > 1 {
        narrow(&mut candidates, &|c| {
            args(c)
                .iter()
                .zip(inputs)
                .filter(|(a, i)| {
                    *i != unknown
                        && (**a == *i || (category(**a).1 && category(**a).0 == category(*i).0))
                })
                .count()
        });
    }
    if candidates.len() > 1 {
        // An untyped operand: the category the candidates agree on there,
        // and its preferred type if one takes it.
        for (pos, input) in inputs.iter().enumerate() {
            if *input != unknown {
                continue;
            }
            let cats: Vec<(char, bool)> =
                candidates.iter().map(|c| category(args(c)[pos])).collect();
            let first = cats[0].0;
            let one_category = cats.iter().all(|(c, _)| *c == first);
            if one_category && cats.iter().any(|(_, preferred)| *preferred) {
                candidates.retain(|c| category(args(c)[pos]).1);
            }
        }
    }
    if candidates.len() > 1 {
        if let Some(k) = known {
            let by_known: Vec<_> = candidates
                .iter()
                .filter(|c| implicitly(k, c.0) && implicitly(k, c.1))
                .copied()
                .collect();
            if by_known.len() == 1 {
                candidates = by_known;
            }
        }
    }
    match candidates.as_slice() {
        [one] => Ok(**one),
        [] => Err(operator_missing(op.symbol(), Some(lt), rt)),
        _ => Err(Error::new(
            sqlstate::AMBIGUOUS_FUNCTION,
            format!(
                "operator is not unique: {} {} {}",
                lt.name(),
                op.symbol(),
                rt.name()
            ),
        )
        .with_hint("Could not choose a best candidate operator. You might need to add explicit type casts.")),
    }
}

fn castable(from: DataType, to: DataType) -> bool {
    use DataType::{Json, Jsonb};
    if from.vector_array() == Some(to) {
        return true;
    }
    // "char" is not of the string category: besides the string types it
    // converts only to and from integer.
    if from == DataType::InternalChar {
        return to.is_string() || to == DataType::Int4;
    }
    if to == DataType::InternalChar {
        return from.is_string() || from == DataType::Int4;
    }
    if let (DataType::Array(a), DataType::Array(b)) = (from, to) {
        return castable(a.data_type(), b.data_type());
    }
    matches!((from, to), (Json, Jsonb) | (Jsonb, Json))
        || (from == Jsonb && (to == DataType::Bool || to.is_numeric_family()))
        || to.datetime_castable(from)
        || (from.is_numeric_family() && to.is_numeric_family())
        || from.is_string()
        || to.is_string()
        || from.unconstrained() == to.unconstrained()
        || (from == DataType::Bool && to == DataType::Int4)
        || (from == DataType::Int4 && to == DataType::Bool)
        || (from.is_oid_like() && (to.is_oid_like() || to.is_integer()))
        || (to.is_oid_like() && from.is_integer())
}

fn operator_missing(op: &str, left: Option<DataType>, right: DataType) -> Error {
    let text = match left {
        Some(l) => format!(
            "operator does not exist: {} {op} {}",
            l.name(),
            right.name()
        ),
        None => format!("operator does not exist: {op} {}", right.name()),
    };
    let hint = if left.is_some() {
        "No operator matches the given name and argument types. You might need to add explicit type casts."
    } else {
        "No operator matches the given name and argument type. You might need to add an explicit type cast."
    };
    Error::new(sqlstate::UNDEFINED_FUNCTION, text).with_hint(hint)
}

fn negate_literal(v: &Value) -> Option<Value> {
    Some(match v {
        Value::Int4(i) => Value::Int4(i.checked_neg()?),
        Value::Int8(i) if *i == 2147483648 => Value::Int4(i32::MIN),
        Value::Int8(i) => Value::Int8(i.checked_neg()?),
        Value::Numeric(d)
            if *d
                == tessera_types::numeric::Numeric::from(rust_decimal::Decimal::from(
                    9223372036854775808u64,
                )) =>
        {
            Value::Int8(i64::MIN)
        }
        Value::Numeric(d) => Value::Numeric(d.neg()),
        Value::Float8(f) => Value::Float8(-f),
        _ => return None,
    })
}

/// The name PostgreSQL gives a result column with no alias.
fn column_name(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(i) => ident_name(i),
        ast::Expr::CompoundIdentifier(p) => p.last().map(ident_name).unwrap_or_default(),
        ast::Expr::Function(f) => function_name(f),
        ast::Expr::Tuple(_) => "row".into(),
        ast::Expr::Nested(inner) => column_name(inner),
        // `(r).field` is named by the field, `c.xs[1]` and `xs[1]` by
        // the column.
        ast::Expr::CompoundFieldAccess { root, access_chain } => access_chain
            .iter()
            .rev()
            .find_map(|a| match a {
                ast::AccessExpr::Dot(ast::Expr::Identifier(i)) => Some(ident_name(i)),
                _ => None,
            })
            .unwrap_or_else(|| column_name(root)),
        ast::Expr::Substring {
            shorthand: true, ..
        } => "substr".into(),
        ast::Expr::Substring { .. } => "substring".into(),
        ast::Expr::Position { .. } => "position".into(),
        ast::Expr::Ceil { .. } => "ceil".into(),
        ast::Expr::Floor { .. } => "floor".into(),
        ast::Expr::Trim { trim_where, .. } => match trim_where {
            Some(ast::TrimWhereField::Leading) => "ltrim",
            Some(ast::TrimWhereField::Trailing) => "rtrim",
            _ => "btrim",
        }
        .into(),
        ast::Expr::Cast {
            expr,
            data_type: dt,
            ..
        } => match column_name(expr).as_str() {
            // A cast to an array is named by the element type; a cast of a
            // cast by the outer one's type (a weak name, in PostgreSQL's
            // terms, that the outer cast overrides).
            _ if matches!(**expr, ast::Expr::Cast { .. }) => cast_column_name(dt),
            "?column?" => cast_column_name(dt),
            name => name.to_string(),
        },
        // A typed literal (`date '…'`, `integer '1'`) is a cast of a string.
        ast::Expr::TypedString(ast::TypedString { data_type: dt, .. }) => cast_column_name(dt),
        ast::Expr::Interval(_) => "interval".into(),
        ast::Expr::Extract { .. } => "extract".into(),
        ast::Expr::AtTimeZone { .. } => "timezone".into(),
        ast::Expr::Case { .. } => "case".into(),
        ast::Expr::Exists { negated: false, .. } => "exists".into(),
        ast::Expr::Subquery(q) => match &*q.body {
            ast::SetExpr::Select(s) => match s.projection.first() {
                Some(ast::SelectItem::UnnamedExpr(e)) => column_name(e),
                Some(ast::SelectItem::ExprWithAlias { alias, .. }) => ident_name(alias),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        _ => "?column?".into(),
    }
}

/// PostgreSQL's internal name of a type (`int4`), which names a column
/// that is a cast to it; `?column?` for types without one here.
fn internal_type_name(t: DataType) -> &'static str {
    match t {
        DataType::Array(_) | DataType::Unknown => "?column?",
        t => crate::system::typname(t),
    }
}

/// The name of a column that is a cast to `dt`: the type's internal
/// name, an array's element type's for a cast to an array.
fn cast_column_name(dt: &ast::DataType) -> String {
    match (data_type(dt), dt) {
        (Ok(DataType::Array(e)), _) => internal_type_name(e.data_type()).into(),
        (Ok(t), _) => internal_type_name(t).into(),
        // A type CREATE TYPE or CREATE DOMAIN made: its name, as written.
        (Err(_), ast::DataType::Custom(name, _)) => custom_type_name(name),
        (Err(_), ast::DataType::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _))) => {
            match &**inner {
                ast::DataType::Custom(name, _) => custom_type_name(name),
                _ => "?column?".into(),
            }
        }
        (Err(_), _) => "?column?".into(),
    }
}

/// The last part of a type's name (`s.mood` names its column `mood`).
fn custom_type_name(name: &ast::ObjectName) -> String {
    match name.0.last() {
        Some(ast::ObjectNamePart::Identifier(i)) => ident_name(i),
        _ => "?column?".into(),
    }
}

/// A number standing for a select-list item (`ORDER BY 2`): its position.
fn select_list_position(v: &ast::Value, len: usize, clause: &str) -> Result<Option<usize>> {
    let ast::Value::Number(n, _) = v else {
        return Ok(None);
    };
    match n.parse::<usize>() {
        Ok(pos) if pos >= 1 && pos <= len => Ok(Some(pos - 1)),
        _ => Err(Error::new(
            sqlstate::INVALID_COLUMN_REFERENCE,
            format!("{clause} position {n} is not in select list"),
        )),
    }
}

/// An ORDER BY item that names an output column: an ordinal or an output name.
fn output_ref_index(e: &ast::Expr, items: &[(ast::Expr, String)]) -> Result<Option<usize>> {
    match e {
        ast::Expr::Value(v) => select_list_position(&v.value, items.len(), "ORDER BY"),
        ast::Expr::Identifier(i) => {
            let n = ident_name(i);
            let matches: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, (_, name))| *name == n)
                .map(|(i, _)| i)
                .collect();
            match matches.as_slice() {
                [one] => Ok(Some(*one)),
                [] => Ok(None),
                [first, ..] => {
                    // Several outputs with one name are fine if they are the same expression.
                    if matches.iter().all(|m| items[*m].0 == items[*first].0) {
                        Ok(Some(*first))
                    } else {
                        Err(Error::new(
                            sqlstate::AMBIGUOUS_COLUMN,
                            format!("ORDER BY \"{n}\" is ambiguous"),
                        ))
                    }
                }
            }
        }
        _ => Ok(None),
    }
}

/// A GROUP BY item that names an output column: an ordinal, or an output
/// name that is not also an input column (input names win, as in PostgreSQL).
fn resolve_group_ref(
    e: &ast::Expr,
    items: &[(ast::Expr, String)],
    scope: &Scope,
) -> Result<Option<ast::Expr>> {
    match e {
        ast::Expr::Value(v) => Ok(
            select_list_position(&v.value, items.len(), "GROUP BY")?.map(|i| items[i].0.clone())
        ),
        ast::Expr::Identifier(i) => {
            let n = ident_name(i);
            if scope.resolve(None, &n).is_ok() {
                return Ok(None);
            }
            Ok(items
                .iter()
                .find(|(_, name)| *name == n)
                .map(|(e, _)| e.clone()))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod index_choice_tests {
    use tessera_types::{Catalog, ColumnDef, DataType, IndexDef, TableDef};

    use super::Binder;
    use crate::expr::{Expr, SubqueryRows};
    use crate::plan::{IndexScan, Plan, Source, Statement};

    /// `t (id int PRIMARY KEY, a int, b int, c text)` with indexes on
    /// `(a, b)` and, unique, `(c, id)` and `(b)` (global), all built.
    fn catalog() -> Catalog {
        let column = |name: &str, data_type| ColumnDef::new(name, data_type, false);
        let def = TableDef {
            id: 0,
            name: "t".into(),
            schema: tessera_types::schema::PUBLIC,
            columns: vec![
                column("id", DataType::Int4),
                column("a", DataType::Int4),
                column("b", DataType::Int8),
                column("c", DataType::Text),
            ],
            primary_key: vec![0],
            sharding_key: vec![0],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        let (catalog, table) = Catalog::new(16, 2).with_table(def);
        let ab = IndexDef::new("t_ab".into(), &table, vec![1, 2], vec![false; 2], false);
        let (catalog, ab) = catalog.with_index(ab);
        let c = IndexDef::new("t_c".into(), &table, vec![3, 0], vec![false; 2], true);
        let (catalog, c) = catalog.with_index(c);
        // Unique without the sharding key: global.
        let b = IndexDef::new("t_b".into(), &table, vec![2], vec![false], true);
        let (catalog, b) = catalog.with_index(b);
        let pair = TableDef {
            id: 0,
            name: "p2".into(),
            schema: tessera_types::schema::PUBLIC,
            columns: vec![
                column("a", DataType::Int4),
                column("b", DataType::Int8),
                column("v", DataType::Text),
            ],
            primary_key: vec![0, 1],
            sharding_key: vec![0, 1],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        let (catalog, _) = catalog.with_table(pair);
        catalog
            .with_index_valid(ab.storage.id, 1)
            .with_index_valid(c.storage.id, 1)
            .with_index_valid(b.storage.id, 1)
    }

    fn bind(sql: &str) -> Statement {
        let parsed = crate::parser::parse(sql).unwrap();
        Binder::new(&catalog(), &[], Default::default())
            .bind(&parsed[0], sql)
            .unwrap()
    }

    fn index_scan(sql: &str) -> Option<IndexScan> {
        let statement = bind(sql);
        let Plan::Select(select) = &*statement.plan else {
            panic!("not a select")
        };
        select.fragment.index.clone()
    }

    #[test]
    fn subqueries_run_once_or_per_row_over_rows_gathered_once() {
        let scan_filter = |plan: &Plan| match plan {
            Plan::Select(s) => s.fragment.filter.clone(),
            _ => panic!("not a select"),
        };
        // Uncorrelated: one init plan, and a constant the query routes by.
        let st = bind("SELECT * FROM t WHERE id = (SELECT max(a) FROM t WHERE b > 1)");
        assert_eq!(st.init.len(), 1);
        let Plan::Select(select) = &*st.plan else {
            panic!("not a select")
        };
        assert!(select.fragment.primary_key.is_some(), "a point lookup");

        // Correlated: the inner table is read once with the conditions
        // that do not depend on the outer row; the rest runs per row.
        let st =
            bind("SELECT id FROM t o WHERE EXISTS (SELECT 1 FROM t i WHERE i.a = 7 AND i.b = o.b)");
        assert_eq!(st.init.len(), 1);
        assert_eq!(st.init[0].place, None);
        let pushed = scan_filter(&st.init[0].plan).expect("pushed down");
        assert!(!pushed.uses_outer());
        let Plan::Select(select) = &*st.plan else {
            panic!("not a select")
        };
        let Some(Expr::Subquery(sub)) = &select.fragment.filter else {
            panic!("EXISTS is the filter")
        };
        assert_eq!(sub.args, vec![Expr::Column(2)], "reads o.b");
        let SubqueryRows::PerRow(inner) = &sub.query else {
            panic!("correlated")
        };
        let Some(Source::Probe { init: 0, keys }) = &inner.source else {
            panic!("i.b = o.b is a probe of the gathered rows")
        };
        assert_eq!(keys.len(), 1);
        assert!(inner.fragment.filter.is_none());
    }

    /// The path's name: an index's, or `pkey`.
    fn path(s: &IndexScan) -> &str {
        s.index.as_ref().map_or("pkey", |i| i.name.as_str())
    }

    #[test]
    fn ranges_and_order_of_the_primary_key_read_a_range_of_it() {
        let s = index_scan("SELECT * FROM t WHERE id > 500 ORDER BY id LIMIT 5").unwrap();
        assert_eq!(path(&s), "pkey");
        assert_eq!(
            s.lower.as_ref().map(|(v, i)| (v.len(), *i)),
            Some((1, false))
        );
        assert!(s.upper.is_none() && s.limit.is_some() && !s.reverse);
        let s = index_scan("SELECT * FROM t WHERE id BETWEEN 10 AND 20").unwrap();
        assert_eq!(path(&s), "pkey");
        assert_eq!(s.lower.as_ref().map(|(_, i)| *i), Some(true));
        assert_eq!(s.upper.as_ref().map(|(_, i)| *i), Some(true));
        assert!(s.limit.is_none(), "no ORDER BY to serve");
        let s = index_scan("SELECT * FROM t ORDER BY id DESC LIMIT 3 OFFSET 2").unwrap();
        assert!(path(&s) == "pkey" && s.reverse && s.lower.is_none());
        assert!(s.limit.as_ref().is_some_and(|(_, o)| o.is_some()));
        // The row comparison starts at the whole key, both ways.
        let s = index_scan("SELECT * FROM p2 WHERE (a, b) > (3, 4) ORDER BY a, b LIMIT 5").unwrap();
        assert_eq!(path(&s), "pkey");
        assert_eq!(
            s.lower.as_ref().map(|(v, i)| (v.len(), *i)),
            Some((2, false))
        );
        assert!(s.limit.is_some());
        let s =
            index_scan("SELECT * FROM p2 WHERE ($1, $2) <= (a, b) ORDER BY a, b LIMIT 5").unwrap();
        assert_eq!(
            s.lower.as_ref().map(|(v, i)| (v.len(), *i)),
            Some((2, true))
        );
        let s = index_scan("SELECT * FROM p2 WHERE (a, b) < (3, 4) AND a > 1").unwrap();
        assert_eq!(
            s.upper.as_ref().map(|(v, i)| (v.len(), *i)),
            Some((2, false))
        );
        assert_eq!(
            s.lower.as_ref().map(|(v, i)| (v.len(), *i)),
            Some((1, false))
        );
        // Longer than the key: its leading part, inclusive.
        let s = index_scan("SELECT * FROM p2 WHERE (a, b, v) > (1, 2, 'x')").unwrap();
        assert_eq!(
            s.lower.as_ref().map(|(v, i)| (v.len(), *i)),
            Some((2, true))
        );
        // An equal prefix, then a range on the next column.
        let s =
            index_scan("SELECT * FROM p2 WHERE a = 1 AND b > 2 ORDER BY b DESC LIMIT 4").unwrap();
        assert_eq!((s.equal.len(), s.reverse), (1, true));
        assert_eq!(s.lower.as_ref().map(|(v, _)| v.len()), Some(1));
        // An index's equality beats a range of the primary key.
        let s = index_scan("SELECT * FROM t WHERE a = 1 AND id > 5").unwrap();
        assert_eq!(path(&s), "t_ab");
        // Not a bound: another column, an OR of other shapes, a function.
        assert!(index_scan("SELECT * FROM p2 WHERE b > 3").is_none());
        assert!(index_scan("SELECT * FROM p2 WHERE a > 3 OR b > 4").is_none());
        assert!(index_scan("SELECT * FROM t WHERE id + 1 > 3").is_none());
        // A unique index leaves out rows with a NULL in its columns.
        assert!(index_scan("SELECT * FROM t WHERE c > 'x'").is_some());
        assert!(index_scan("SELECT * FROM t ORDER BY c, id LIMIT 3").is_none());
        // Order the key cannot give.
        assert!(index_scan("SELECT * FROM p2 ORDER BY a DESC, b LIMIT 3").is_none());
        assert!(index_scan("SELECT * FROM p2 ORDER BY b LIMIT 3").is_none());
    }

    #[test]
    fn equality_range_and_order_pick_an_index() {
        let s = index_scan("SELECT * FROM t WHERE a = 1 AND b > 5").unwrap();
        assert_eq!(path(&s), "t_ab");
        assert_eq!(s.equal.len(), 1);
        assert!(s.lower.is_some() && s.upper.is_none() && s.limit.is_none());
        let s = index_scan("SELECT * FROM t WHERE 3 >= a").unwrap();
        assert!(s.equal.is_empty() && s.upper.is_some());
        let s = index_scan("SELECT * FROM t WHERE c = 'x' AND id = $1 OR false");
        assert!(s.is_none(), "a disjunction fixes nothing");
        let s = index_scan("SELECT * FROM t WHERE c = 'x' AND a = 2 AND b = 3").unwrap();
        assert_eq!(path(&s), "t_b", "a whole unique key beats any prefix");
        let s = index_scan("SELECT * FROM t WHERE c = 'x' AND a = 2 AND b > 3").unwrap();
        assert_eq!(path(&s), "t_ab", "a prefix and a range beat a prefix");
        let s = index_scan("SELECT * FROM t WHERE c = 'x'").unwrap();
        assert_eq!(path(&s), "t_c");
        let s = index_scan("SELECT id FROM t WHERE a = 2 ORDER BY b DESC LIMIT 3").unwrap();
        assert!(s.reverse && s.limit.is_some());
        let s = index_scan("SELECT a FROM t ORDER BY a, b LIMIT 3").unwrap();
        assert!(!s.reverse && s.limit.is_some());
        let s = index_scan("SELECT a FROM t ORDER BY a, b, id LIMIT 3").unwrap();
        assert_eq!(path(&s), "t_ab");
        assert!(
            s.limit.is_some(),
            "entries are ordered by the primary key last"
        );
        // Orders an index cannot give, and no LIMIT to stop early.
        assert!(index_scan("SELECT a FROM t ORDER BY a DESC, b LIMIT 3").is_none());
        assert!(index_scan("SELECT a FROM t ORDER BY a").is_none());
        let s = index_scan("SELECT a FROM t WHERE b = 1").unwrap();
        assert_eq!(path(&s), "t_b", "one value of a unique key: one row");
        assert!(
            index_scan("SELECT a FROM t WHERE b > 1").is_none(),
            "a global index serves single values only"
        );
        // A point lookup by primary key needs no index.
        assert!(index_scan("SELECT * FROM t WHERE id = 1 AND a = 1").is_none());
    }

    #[test]
    fn updates_and_deletes_find_rows_through_an_index() {
        match &*bind("UPDATE t SET b = 1 WHERE a = 2 AND b < 7").plan {
            Plan::Update(u) => {
                let ix = u.index.as_ref().unwrap();
                assert_eq!((path(ix), ix.equal.len()), ("t_ab", 1));
                assert!(ix.upper.is_some());
            }
            _ => panic!("not an update"),
        }
        match &*bind("DELETE FROM t WHERE c = 'x'").plan {
            Plan::Delete(d) => assert_eq!(path(d.index.as_ref().unwrap()), "t_c"),
            _ => panic!("not a delete"),
        }
        match &*bind("UPDATE t SET a = 1 WHERE b = 7").plan {
            Plan::Update(u) => assert_eq!(path(u.index.as_ref().unwrap()), "t_b"),
            _ => panic!("not an update"),
        }
        match &*bind("DELETE FROM t WHERE id = 3 AND c = 'x'").plan {
            Plan::Delete(d) => assert!(d.index.is_none(), "a point lookup"),
            _ => panic!("not a delete"),
        }
    }
}

#[cfg(test)]
mod temporal_operator_tests {
    use tessera_types::{sqlstate, DataType};

    use super::temporal_operator;
    use crate::expr::BinaryOp;

    const U: DataType = DataType::Unknown;
    const I: DataType = DataType::Interval(None);
    const TS: DataType = DataType::Timestamp(None);
    const TZ: DataType = DataType::TimestampTz(None);
    const T: DataType = DataType::Time(None);

    fn pick(op: BinaryOp, l: DataType, r: DataType) -> (DataType, DataType, DataType) {
        temporal_operator(op, l, r).unwrap()
    }

    #[test]
    fn operators_resolve_as_postgres_picks_them() {
        use BinaryOp::{Add, Div, Mul, Sub};
        use DataType::{Date, Float8, Int2, Int4, Numeric};
        // Exact pairs.
        assert_eq!(pick(Add, Date, Int4), (Date, Int4, Date));
        assert_eq!(pick(Sub, TS, TS), (TS, TS, I));
        assert_eq!(pick(Add, I, TZ), (I, TZ, TZ));
        // An untyped operand is first taken as the other's type…
        assert_eq!(pick(Sub, Date, U), (Date, Date, Int4));
        assert_eq!(pick(Sub, TZ, U), (TZ, TZ, I));
        assert_eq!(pick(Sub, TS, U), (TS, TS, I));
        assert_eq!(pick(Add, U, I), (I, I, I));
        // …else the only candidate with an exact match on the typed side…
        assert_eq!(pick(Add, TS, U), (TS, I, TS));
        assert_eq!(pick(Add, U, TS), (I, TS, TS));
        // …else the one the typed side converts to (time + '1 hour').
        assert_eq!(pick(Add, T, U), (T, I, T));
        // Implicit widening: integers to float8, date to timestamp.
        assert_eq!(pick(Mul, I, Int2), (I, Float8, I));
        assert_eq!(pick(Mul, Numeric(None), I), (Float8, I, I));
        assert_eq!(pick(Div, I, Int4), (I, Float8, I));
        assert_eq!(pick(Add, Date, Int2), (Date, Int4, Date));
        assert_eq!(pick(Sub, Date, TS), (TS, TS, I));
        assert_eq!(pick(Sub, TZ, Date), (TZ, TZ, I));
        assert_eq!(pick(Sub, TS, TZ), (TZ, TZ, I));
        let ttz = DataType::TimeTz(None);
        assert_eq!(pick(Add, Date, ttz), (Date, ttz, TZ));
        // date + '…' could be an integer, an interval or a time: 42725.
        let e = temporal_operator(Add, Date, U).unwrap_err();
        assert_eq!(e.code, sqlstate::AMBIGUOUS_FUNCTION);
        assert_eq!(e.message, "operator is not unique: date + unknown");
        let e = temporal_operator(Mul, Date, Int4).unwrap_err();
        assert_eq!(e.code, sqlstate::UNDEFINED_FUNCTION);
        assert_eq!(e.message, "operator does not exist: date * integer");
        assert!(temporal_operator(Add, Date, DataType::Int8).is_err());
        assert!(temporal_operator(Sub, I, TS).is_err());
    }
}

#[cfg(test)]
mod join_order_tests {
    use super::{exhaustive_join_order, join_order, JoinGraph};

    /// TPC-H's Q5 with the estimates ANALYZE gives a small copy of it:
    /// customer (0), orders of a year (1), lineitem (2), supplier (3),
    /// nation (4), region (5, one by name), joined by equalities of
    /// columns, each column with its distinct values.
    fn q5() -> JoinGraph {
        let key = |items: [usize; 2], distinct: [f64; 2]| {
            vec![(items[0], distinct[0]), (items[1], distinct[1])]
        };
        JoinGraph {
            estimates: vec![3000.0, 1825.0, 48000.0, 200.0, 25.0, 1.0],
            links: vec![
                vec![0, 1],
                vec![1, 2],
                vec![2, 3],
                vec![0, 3],
                vec![3, 4],
                vec![4, 5],
            ],
            conditions: vec![],
            classes: vec![
                key([0, 1], [3000.0, 2975.0]),
                key([1, 2], [12000.0, 12000.0]),
                key([2, 3], [200.0, 200.0]),
                // c_nationkey = s_nationkey AND s_nationkey = n_nationkey
                vec![(0, 25.0), (3, 25.0), (4, 25.0)],
                key([4, 5], [5.0, 5.0]),
            ],
        }
    }

    fn greedy(graph: &JoinGraph) -> Option<Vec<usize>> {
        (0..graph.estimates.len())
            .map(|s| join_order(s, graph))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(order, _)| order)
    }

    #[test]
    fn every_order_is_weighed_where_greedy_pairs_suppliers_with_customers() {
        let mut graph = q5();
        // Greedy from every start: supplier (the smallest next join)
        // before customer, whom it meets on the nation alone.
        assert_eq!(greedy(&graph), Some(vec![5, 4, 3, 0, 1, 2]));
        // Weighing every order, customers reached from nation by the
        // equality the class implies (the binder adds its condition).
        graph.links.push(vec![0, 4]);
        assert_eq!(
            exhaustive_join_order(None, &graph),
            Some(vec![5, 4, 0, 1, 2, 3])
        );
        // A given start is kept.
        let from_lineitem = exhaustive_join_order(Some(2), &graph);
        assert_eq!(from_lineitem.as_ref().map(|o| o[0]), Some(2));
    }

    #[test]
    fn a_class_of_equal_columns_counts_each_column_once() {
        let graph = q5();
        // Supplier, customer and nation: 200 × 3000 × 25 rows, the three
        // nation keys equal: two joins of 25 values, not three.
        let rows = graph.rows(|i| [0, 3, 4].contains(&i));
        assert_eq!(rows, 200.0 * 3000.0 * 25.0 / 25.0 / 25.0);
    }

    #[test]
    fn items_no_condition_connects_come_as_a_cross_product() {
        // 0 and 1 joined by a condition; 2 stands alone, and joins last
        // although it is the smallest.
        let graph = JoinGraph {
            estimates: vec![100.0, 1000.0, 20.0],
            links: vec![vec![0, 1]],
            conditions: vec![(vec![0, 1], 1.0 / 1000.0)],
            classes: vec![],
        };
        assert_eq!(exhaustive_join_order(None, &graph), Some(vec![0, 1, 2]));
        let many = JoinGraph {
            estimates: vec![10.0; super::JOIN_ORDER_EXHAUSTIVE_MAX + 1],
            links: vec![],
            conditions: vec![],
            classes: vec![],
        };
        assert_eq!(exhaustive_join_order(None, &many), None);
    }
}

/// A FROM item naming relation `name`, with nothing else.
fn table_factor_named(name: &ast::ObjectName) -> ast::TableFactor {
    ast::TableFactor::Table {
        name: name.clone(),
        alias: None,
        args: None,
        with_hints: vec![],
        version: None,
        with_ordinality: false,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_hints: vec![],
    }
}
