//! FOREIGN KEY enforcement, on the router, inside the statement's
//! transaction block (an implicit one when the client has none open).
//!
//! A row that references a parent locks that parent row as a write of it
//! unchanged would (`ShardRequest::LockKeys`), after checking it exists:
//! a concurrent DELETE of the parent then waits for the child's
//! transaction, or conflicts with it, and finds the child once it commits;
//! a child inserted after the parent's delete finds no parent. Deleting a
//! parent reads the rows that reference it with a snapshot taken after its
//! own delete, and refuses (NO ACTION, RESTRICT) or cascades (CASCADE,
//! SET NULL, SET DEFAULT) through ordinary statements, which check their
//! own foreign keys in turn.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tessera_types::encoding::encode_key;
use tessera_types::schema::ShardId;
use tessera_types::{sqlstate, Error, FkAction, ForeignKey, Result, TableDef, Value};

use super::{Cluster, Router};
use crate::binder::Binder;
use crate::engine::SessionState;
use crate::expr::Expr;
use crate::plan::{OnConflict, Plan, Row};
use crate::shard::ShardRequest;

/// Keys per statement a cascade or a check runs.
const KEYS_PER_STATEMENT: usize = 500;

/// What a write must do about foreign keys.
pub(super) struct FkWork {
    /// The table's foreign keys its new rows must satisfy.
    pub child: Vec<ForeignKey>,
    /// Deleted rows may be referenced from other tables.
    pub parent: bool,
}

impl<C: Cluster> Router<C> {
    /// The foreign-key work of a write, if any; 0A000 for what is not
    /// supported (changing a referenced key, an upsert setting a
    /// referencing column).
    pub(super) fn foreign_key_work(&self, plan: &Plan) -> Result<Option<FkWork>> {
        let referenced = |id| self.cluster.catalog().is_referenced(id);
        let work = match plan {
            Plan::Insert(i) => {
                if let Some(OnConflict::Update { assignments, .. }) = i.on_conflict.as_deref() {
                    if assignments
                        .iter()
                        .any(|(c, _)| i.table.foreign_keys.iter().any(|fk| fk.columns.contains(c)))
                    {
                        return Err(Error::unsupported(
                            "ON CONFLICT DO UPDATE of a column of a foreign key",
                        ));
                    }
                }
                FkWork {
                    child: i.table.foreign_keys.clone(),
                    parent: false,
                }
            }
            Plan::Update(u) => {
                let assigned = |cols: &[usize]| u.assignments.iter().any(|(c, _)| cols.contains(c));
                if u.table.foreign_keys.is_empty() && !referenced(u.table.id) {
                    return Ok(None);
                }
                if let Some((child, fk)) = self
                    .cluster
                    .catalog()
                    .referencing(u.table.id)
                    .into_iter()
                    .find(|(_, fk)| assigned(&fk.parent_columns))
                {
                    return Err(Error::unsupported(format!(
                        "updating a key of \"{}\" that foreign key \"{}\" of \"{}\" references",
                        u.table.name, fk.name, child.name
                    )));
                }
                FkWork {
                    child: u
                        .table
                        .foreign_keys
                        .iter()
                        .filter(|fk| assigned(&fk.columns))
                        .cloned()
                        .collect(),
                    parent: false,
                }
            }
            Plan::Delete(d) => FkWork {
                child: vec![],
                parent: referenced(d.table.id),
            },
            _ => return Ok(None),
        };
        Ok((!work.child.is_empty() || work.parent).then_some(work))
    }

    /// Every row's key (unless it has a NULL) names a row of the parent,
    /// which stays locked for the rest of the transaction; 23503 if not.
    pub(super) async fn check_parents(
        &self,
        table: &TableDef,
        fks: &[ForeignKey],
        rows: &[Row],
        session: &mut SessionState,
    ) -> Result<()> {
        let catalog = self.cluster.catalog();
        let time = session.time_context(self.cluster.wall_clock());
        for fk in fks {
            let parent = match catalog.table_by_id(fk.parent) {
                Some(p) => p.clone(),
                None if fk.parent == table.id => table.clone(),
                None => {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_TABLE,
                        format!("the table foreign key \"{}\" references is gone", fk.name),
                    ))
                }
            };
            let mut per_shard: HashMap<ShardId, Vec<(Vec<u8>, Error)>> = HashMap::new();
            let mut seen = HashSet::new();
            for row in rows {
                let values: Vec<&Value> = fk.columns.iter().map(|c| &row[*c]).collect();
                if values.iter().any(|v| v.is_null()) {
                    continue;
                }
                let mut image = vec![Value::Null; parent.columns.len()];
                for (v, p) in values.iter().zip(&fk.parent_columns) {
                    image[*p] =
                        (*v).clone()
                            .cast_with(parent.columns[*p].data_type, false, &time)?;
                }
                let key = encode_key(&image, &parent.primary_key);
                if !seen.insert(key.clone()) {
                    continue;
                }
                let shard = if parent.sharding_key == parent.primary_key {
                    self.shard_of_key(&catalog, &key)
                } else {
                    self.shard_of_key(&catalog, &encode_key(&image, &parent.sharding_key))
                };
                let missing = Error::new(
                    sqlstate::FOREIGN_KEY_VIOLATION,
                    format!(
                        "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                        table.name, fk.name
                    ),
                )
                .with_detail(format!(
                    "Key ({})=({}) is not present in table \"{}\".",
                    column_list(table, &fk.columns),
                    value_list(&values),
                    parent.name
                ));
                per_shard.entry(shard).or_default().push((key, missing));
            }
            if per_shard.is_empty() {
                continue;
            }
            let parent_id = parent.id;
            self.write("INSERT", session, false, |mode| {
                Ok(per_shard
                    .iter()
                    .map(|(s, keys)| {
                        (
                            *s,
                            ShardRequest::LockKeys {
                                table: parent_id,
                                keys: keys.clone(),
                                mode,
                            },
                        )
                    })
                    .collect())
            })
            .await?;
        }
        Ok(())
    }

    /// After rows of `parent` were deleted: what references them is
    /// refused, deleted or set NULL / DEFAULT, per constraint.
    pub(super) async fn parent_rows_deleted(
        &self,
        parent: &TableDef,
        rows: &[Row],
        session: &mut SessionState,
    ) -> Result<()> {
        let catalog = self.cluster.catalog();
        for (child, fk) in catalog.referencing(parent.id) {
            let mut keys: Vec<Vec<Value>> = Vec::new();
            let mut seen = HashSet::new();
            for row in rows {
                let key: Vec<Value> = fk.parent_columns.iter().map(|p| row[*p].clone()).collect();
                if seen.insert(key.clone()) {
                    keys.push(key);
                }
            }
            for chunk in keys.chunks(KEYS_PER_STATEMENT) {
                let (condition, params) = self.matching(&child, &fk, chunk, session)?;
                let t = format!(
                    "{}.{}",
                    quote(catalog.schema_name(child.schema)),
                    quote(&child.name)
                );
                let sql = match fk.on_delete {
                    FkAction::NoAction | FkAction::Restrict => {
                        let cols: Vec<String> = fk
                            .columns
                            .iter()
                            .map(|c| quote(&child.columns[*c].name))
                            .collect();
                        format!(
                            "SELECT {} FROM {t} WHERE {condition} LIMIT 1",
                            cols.join(", ")
                        )
                    }
                    FkAction::Cascade => format!("DELETE FROM {t} WHERE {condition}"),
                    FkAction::SetNull | FkAction::SetDefault => {
                        let value = if fk.on_delete == FkAction::SetNull {
                            "NULL"
                        } else {
                            "DEFAULT"
                        };
                        let sets: Vec<String> = fk
                            .columns
                            .iter()
                            .map(|c| format!("{} = {value}", quote(&child.columns[*c].name)))
                            .collect();
                        format!("UPDATE {t} SET {} WHERE {condition}", sets.join(", "))
                    }
                };
                let found = Box::pin(self.run_internal(&sql, params, session)).await?;
                if matches!(fk.on_delete, FkAction::NoAction | FkAction::Restrict) {
                    if let Some(row) = found.first() {
                        let values: Vec<&Value> = row.iter().collect();
                        return Err(Error::new(
                            sqlstate::FOREIGN_KEY_VIOLATION,
                            format!(
                                "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                                parent.name, fk.name, child.name
                            ),
                        )
                        .with_detail(format!(
                            "Key ({})=({}) is still referenced from table \"{}\".",
                            column_list(parent, &fk.parent_columns),
                            value_list(&values),
                            child.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// A condition matching `child` rows whose key is one of `keys`, with
    /// its parameters (each key cast to the child's column types).
    fn matching(
        &self,
        child: &TableDef,
        fk: &ForeignKey,
        keys: &[Vec<Value>],
        session: &SessionState,
    ) -> Result<(String, Vec<Value>)> {
        let time = session.time_context(self.cluster.wall_clock());
        let mut params = Vec::with_capacity(keys.len() * fk.columns.len());
        let mut alternatives = Vec::with_capacity(keys.len());
        for key in keys {
            let mut parts = Vec::with_capacity(key.len());
            for (v, c) in key.iter().zip(&fk.columns) {
                params.push(
                    v.clone()
                        .cast_with(child.columns[*c].data_type, false, &time)?,
                );
                parts.push(format!(
                    "{} = ${}",
                    quote(&child.columns[*c].name),
                    params.len()
                ));
            }
            alternatives.push(format!("({})", parts.join(" AND ")));
        }
        let condition = match fk.columns.as_slice() {
            [c] => {
                let list: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
                format!(
                    "{} IN ({})",
                    quote(&child.columns[*c].name),
                    list.join(", ")
                )
            }
            _ => alternatives.join(" OR "),
        };
        Ok((condition, params))
    }

    /// Binds and runs a statement of the router's own (with its own
    /// foreign-key work), in the session's open block; returns its rows.
    async fn run_internal(
        &self,
        sql: &str,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<Vec<Row>> {
        let parsed = crate::parser::parse(sql)?;
        let catalog = self.cluster.catalog();
        let time = session.time_context(self.cluster.wall_clock());
        let types: Vec<Option<tessera_types::DataType>> = params
            .iter()
            .map(|v| Some(v.data_type()).filter(|t| *t != tessera_types::DataType::Unknown))
            .collect();
        let statement = Binder::new(&catalog, &types, time).bind(&parsed[0], sql)?;
        Ok(self.execute_plan(&statement, params, session).await?.rows)
    }
}

/// `plan` with RETURNING of each written row first (then its own
/// RETURNING): what foreign keys need to see of an UPDATE or DELETE.
pub(super) fn with_row_images(plan: &Plan) -> Arc<Plan> {
    let mut plan = plan.clone();
    let (table, returning) = match &mut plan {
        Plan::Update(u) => (u.table.clone(), &mut u.returning),
        Plan::Delete(d) => (d.table.clone(), &mut d.returning),
        _ => return Arc::new(plan),
    };
    let mut all: Vec<Expr> = (0..table.columns.len()).map(Expr::Column).collect();
    all.append(returning);
    *returning = all;
    Arc::new(plan)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(table: &TableDef, columns: &[usize]) -> String {
    let names: Vec<&str> = columns
        .iter()
        .map(|c| table.columns[*c].name.as_str())
        .collect();
    names.join(", ")
}

fn value_list(values: &[&Value]) -> String {
    let shown: Vec<String> = values
        .iter()
        .map(|v| v.to_text().unwrap_or_else(|| "null".into()))
        .collect();
    shown.join(", ")
}
