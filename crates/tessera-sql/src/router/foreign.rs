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
use tessera_types::{
    sqlstate, Catalog, Error, FkAction, ForeignKey, IndexDef, Result, TableDef, Value,
};

use super::{Cluster, Router, Snapshot};
use crate::binder::Binder;
use crate::engine::SessionState;
use crate::expr::Expr;
use crate::plan::{OnConflict, Plan, Row};
use crate::shard::{ParentKey, ShardRequest, ShardResponse};

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
    pub(super) fn foreign_key_work(
        &self,
        plan: &Plan,
        catalog: &Catalog,
    ) -> Result<Option<FkWork>> {
        let referenced = |id| catalog.is_referenced(id);
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
                    if catalog.referencing(i.table.id).iter().any(|(_, fk)| {
                        assignments
                            .iter()
                            .any(|(c, _)| fk.parent_columns.contains(c))
                    }) {
                        return Err(Error::unsupported(
                            "ON CONFLICT DO UPDATE of a column a foreign key references",
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
                // A referenced key that changes is acted on for moved
                // rows (`place_moved`); the binder moves every such row.
                let parent = catalog
                    .referencing(u.table.id)
                    .iter()
                    .any(|(_, fk)| assigned(&fk.parent_columns));
                if parent && !u.moves {
                    return Err(Error::internal(
                        "an UPDATE of a referenced key that does not move its rows",
                    ));
                }
                FkWork {
                    child: u
                        .table
                        .foreign_keys
                        .iter()
                        .filter(|fk| assigned(&fk.columns))
                        .cloned()
                        .collect(),
                    parent,
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
        let catalog = self.catalog_of(session);
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
            let mut per_shard: HashMap<ShardId, Vec<ParentKey>> = HashMap::new();
            // Referencing a unique constraint other than the primary key:
            // the parent's row is found through its index.
            let through = referenced_index(&catalog, &parent, &fk.parent_columns)?;
            let mut lookups: Vec<(Vec<u8>, Vec<Value>, Error)> = Vec::new();
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
                ))
                .with_table(table.schema, &table.name)
                .with_constraint(&fk.name);
                if let Some(index) = &through {
                    let entry: Vec<Value> =
                        index.columns.iter().map(|c| image[*c].clone()).collect();
                    let entry_key = encode_key(&entry, &index.storage.primary_key);
                    if seen.insert(entry_key.clone()) {
                        lookups.push((entry_key, image, missing));
                    }
                    continue;
                }
                let key = encode_key(&image, &parent.primary_key);
                if !seen.insert(key.clone()) {
                    continue;
                }
                let shard = if parent.sharding_key == parent.primary_key {
                    self.shard_of_row(&catalog, &parent, &key)
                } else {
                    self.shard_of_row(&catalog, &parent, &encode_key(&image, &parent.sharding_key))
                };
                per_shard.entry(shard).or_default().push(ParentKey {
                    key,
                    holds: None,
                    missing,
                });
            }
            if let Some(index) = &through {
                for (shard, parent_key) in self
                    .find_through_index(&parent, index, &fk.parent_columns, lookups, session)
                    .await?
                {
                    per_shard.entry(shard).or_default().push(parent_key);
                }
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
                            self.routed(
                                &catalog,
                                ShardRequest::LockKeys {
                                    table: parent_id,
                                    keys: keys.clone(),
                                    mode,
                                },
                            ),
                        )
                    })
                    .collect())
            })
            .await?;
        }
        Ok(())
    }

    /// The parent rows `lookups` name (entry key of `index`, the values
    /// as a parent row image, the error if there is none), read through
    /// the index at a new snapshot (under the block's own writes): their
    /// shards and keys, to be locked holding those values still.
    async fn find_through_index(
        &self,
        parent: &TableDef,
        index: &IndexDef,
        columns: &[usize],
        lookups: Vec<(Vec<u8>, Vec<Value>, Error)>,
        session: &SessionState,
    ) -> Result<Vec<(ShardId, ParentKey)>> {
        let catalog = self.catalog_of(session);
        let txn = session.txn.as_ref().map(|t| t.id);
        let snapshot = Snapshot::begin(&self.cluster);
        let gets = lookups
            .iter()
            .map(|(entry_key, image, _)| {
                let shard = if index.is_global(parent) {
                    self.shard_of_key(&catalog, parent.tier, entry_key)
                } else {
                    // The entry lives with its row, whose sharding key
                    // the index's columns hold.
                    self.shard_of_row(&catalog, parent, &encode_key(image, &parent.sharding_key))
                };
                let get = ShardRequest::Get {
                    table: index.storage.id,
                    key: entry_key.clone(),
                    ts: snapshot.ts,
                    txn,
                    track_reads: false,
                };
                self.cluster.call(shard, self.routed(&catalog, get))
            })
            .collect();
        let replies = super::join_all(gets).await;
        drop(snapshot);
        let mut found = Vec::with_capacity(lookups.len());
        for ((_, image, missing), reply) in lookups.into_iter().zip(replies) {
            let entry = match reply? {
                ShardResponse::Rows(mut rows) => rows.pop(),
                other => {
                    return Err(Error::internal(format!(
                        "unexpected reply to a get: {other:?}"
                    )))
                }
            };
            let Some(entry) = entry else {
                return Err(missing);
            };
            let (shard, key) = self.row_of_entry(&catalog, parent, index, &entry);
            found.push((
                shard,
                ParentKey {
                    key,
                    holds: Some((columns.to_vec(), encode_key(&image, columns))),
                    missing,
                },
            ));
        }
        Ok(found)
    }

    /// After rows of `parent` were deleted: what references them is
    /// refused, deleted or set NULL / DEFAULT, per constraint.
    pub(super) async fn parent_rows_deleted(
        &self,
        parent: &TableDef,
        rows: &[Row],
        session: &mut SessionState,
    ) -> Result<()> {
        let catalog = self.catalog_of(session);
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
                        set_referencing(&fk, fk.on_delete, &child, &t, &condition)
                    }
                };
                let found = Box::pin(self.run_internal(&sql, params, session)).await?;
                if matches!(fk.on_delete, FkAction::NoAction | FkAction::Restrict) {
                    if let Some(row) = found.first() {
                        return Err(still_referenced(parent, &child, &fk, row));
                    }
                }
            }
        }
        Ok(())
    }

    /// After an UPDATE changed referenced keys of `parent` (`changes`:
    /// old and new rows): per constraint, references to an old key are
    /// refused (RESTRICT; NO ACTION unless another row took the key over
    /// in the same statement), follow it to the new key (CASCADE) or are
    /// set NULL / DEFAULT.
    pub(super) async fn parent_keys_updated(
        &self,
        parent: &TableDef,
        changes: &[(Row, Row)],
        session: &mut SessionState,
    ) -> Result<()> {
        let catalog = self.catalog_of(session);
        for (child, fk) in catalog.referencing(parent.id) {
            let cols = &fk.parent_columns;
            let key_of = |row: &Row| -> Option<Vec<u8>> {
                (!cols.iter().any(|c| row[*c].is_null())).then(|| encode_key(row, cols))
            };
            let still_there: HashSet<Vec<u8>> =
                changes.iter().filter_map(|(_, new)| key_of(new)).collect();
            // Old key → new values, each old key once.
            let mut old_keys: Vec<Vec<Value>> = Vec::new();
            let mut new_values: Vec<Vec<Value>> = Vec::new();
            let mut seen = HashSet::new();
            for (old, new) in changes {
                let Some(old_key) = key_of(old) else {
                    continue;
                };
                if key_of(new).as_ref() == Some(&old_key) || !seen.insert(old_key.clone()) {
                    continue;
                }
                if fk.on_update == FkAction::NoAction && still_there.contains(&old_key) {
                    continue;
                }
                old_keys.push(cols.iter().map(|c| old[*c].clone()).collect());
                new_values.push(cols.iter().map(|c| new[*c].clone()).collect());
            }
            for (chunk, news) in old_keys
                .chunks(KEYS_PER_STATEMENT)
                .zip(new_values.chunks(KEYS_PER_STATEMENT))
            {
                let (condition, mut params) = self.matching(&child, &fk, chunk, session)?;
                let t = format!(
                    "{}.{}",
                    quote(catalog.schema_name(child.schema)),
                    quote(&child.name)
                );
                let name = |c: &usize| quote(&child.columns[*c].name);
                let sql = match fk.on_update {
                    FkAction::NoAction | FkAction::Restrict => {
                        let list: Vec<String> = fk.columns.iter().map(name).collect();
                        format!(
                            "SELECT {} FROM {t} WHERE {condition} LIMIT 1",
                            list.join(", ")
                        )
                    }
                    FkAction::Cascade => {
                        // Each referencing row takes its own key's new
                        // values, all at once (keys may trade places).
                        let time = session.time_context(self.cluster.wall_clock());
                        let width = fk.columns.len();
                        let mut sets = Vec::with_capacity(width);
                        for (j, c) in fk.columns.iter().enumerate() {
                            let mut case = String::from("CASE");
                            for (i, new) in news.iter().enumerate() {
                                let matches: Vec<String> = fk
                                    .columns
                                    .iter()
                                    .enumerate()
                                    .map(|(k, c)| format!("{} = ${}", name(c), i * width + k + 1))
                                    .collect();
                                params.push(new[j].clone().cast_with(
                                    child.columns[*c].data_type,
                                    false,
                                    &time,
                                )?);
                                case.push_str(&format!(
                                    " WHEN {} THEN ${}",
                                    matches.join(" AND "),
                                    params.len()
                                ));
                            }
                            case.push_str(" END");
                            sets.push(format!("{} = {case}", name(c)));
                        }
                        format!("UPDATE {t} SET {} WHERE {condition}", sets.join(", "))
                    }
                    FkAction::SetNull | FkAction::SetDefault => {
                        set_referencing(&fk, fk.on_update, &child, &t, &condition)
                    }
                };
                let found = Box::pin(self.run_internal(&sql, params, session)).await?;
                if matches!(fk.on_update, FkAction::NoAction | FkAction::Restrict) {
                    if let Some(row) = found.first() {
                        return Err(still_referenced(parent, &child, &fk, row));
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
    pub(super) async fn run_internal(
        &self,
        sql: &str,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<Vec<Row>> {
        let parsed = crate::parser::parse(sql)?;
        let catalog = self.catalog_of(session);
        let time = session.time_context(self.cluster.wall_clock());
        let types: Vec<Option<tessera_types::DataType>> = params
            .iter()
            .map(|v| Some(v.data_type()).filter(|t| *t != tessera_types::DataType::Unknown))
            .collect();
        let statement = Binder::new(&catalog, &types, time).bind(&parsed[0], sql)?;
        Ok(self
            .execute_plan(&statement, params, session)
            .await?
            .rows
            .into_vecs())
    }
}

/// How a foreign key referencing `columns` of `parent` finds its row:
/// by primary key (`None`), or through the unique index on those columns.
fn referenced_index(
    catalog: &tessera_types::Catalog,
    parent: &TableDef,
    columns: &[usize],
) -> Result<Option<Arc<IndexDef>>> {
    let sorted = |cols: &[usize]| {
        let mut cols = cols.to_vec();
        cols.sort_unstable();
        cols
    };
    let wanted = sorted(columns);
    if !parent.has_row_id() && sorted(&parent.primary_key) == wanted {
        return Ok(None);
    }
    let mut candidates: Vec<&Arc<IndexDef>> = catalog
        .indexes_of(parent.id)
        .filter(|ix| ix.unique && sorted(&ix.columns) == wanted)
        .collect();
    candidates.sort_by_key(|ix| !ix.is_valid());
    match candidates.first() {
        Some(ix) => Ok(Some((*ix).clone())),
        None => Err(Error::new(
            sqlstate::INVALID_FOREIGN_KEY,
            format!(
                "the unique constraint of \"{}\" a foreign key references is gone",
                parent.name
            ),
        )),
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

/// 23503 for a parent key that `row` (the referencing columns of a child
/// row) still references.
fn still_referenced(parent: &TableDef, child: &TableDef, fk: &ForeignKey, row: &Row) -> Error {
    let values: Vec<&Value> = row.iter().collect();
    Error::new(
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
    ))
    .with_table(child.schema, &child.name)
    .with_constraint(&fk.name)
}

/// The statement of ON DELETE/UPDATE SET NULL or SET DEFAULT (`action`):
/// the child rows of `table` (quoted) matching `condition` get NULL or
/// their default in the key's columns.
fn set_referencing(
    fk: &ForeignKey,
    action: FkAction,
    child: &TableDef,
    table: &str,
    condition: &str,
) -> String {
    let value = if action == FkAction::SetNull {
        "NULL"
    } else {
        "DEFAULT"
    };
    let sets: Vec<String> = fk
        .columns
        .iter()
        .map(|c| format!("{} = {value}", quote(&child.columns[*c].name)))
        .collect();
    format!("UPDATE {table} SET {} WHERE {condition}", sets.join(", "))
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
