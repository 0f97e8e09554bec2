//! The router: the part of every query that runs on the shard holding the
//! client connection.
//!
//! It binds statements against the current catalog, sends each statement's
//! shard part to the shards that own its rows (one shard when the sharding
//! key is fixed, every shard otherwise), and merges what comes back. A write
//! that touches several shards commits with two-phase commit: prepare on
//! every participant, a durable decision on the router's own shard, then
//! resolve. Prepares that meet locked keys fail fast and the whole statement
//! is retried after a short random back-off.

use crate::sequence::SessionSequences;
use crate::settings_fn::StatementSettings;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tessera_storage::deps::Positions;
use tessera_storage::{Timestamp, TxId};
use tessera_types::encoding::{encode_key, encode_row_id, hash_key};
use tessera_types::schema::ShardId;
use tessera_types::{memory, sqlstate, Catalog, DataType, Error, Result, TableDef, Value};

mod foreign;
mod moves;
mod upsert;

use crate::aggregate::AggState;
use crate::binder::Binder;
use crate::engine::{
    Isolation, Notice, QueryEngine, QueryResult, SessionState, Txn, REPORTED_SETTINGS,
};
use crate::expr::{InitRows, Params};
use crate::plan::{
    DeletePlan, InitPlan, InsertPlan, OnConflict, Plan, Row, SelectPlan, Source, Statement, Target,
    TypeStatement, UpdatePlan,
};
use crate::query_cache;
use crate::rows::Rows;
use crate::shard::{
    check_constraints, eval_key, not_null_violation, with_statement_deps, Block, Relation,
    RelationRef, ShardRequest, ShardResponse, Sink, WriteMode,
};

/// How many times a multi-shard write that lost a lock race is retried
/// before the client gets 40001.
pub const WRITE_RETRIES_MAX: u32 = 50;

/// Rows with their storage keys, bound for one shard.
type KeyedRows = Vec<(Vec<u8>, Row)>;

/// The rows of an INSERT keyed and grouped by shard
/// ([`Router::insert_requests`]).
struct InsertRows {
    per_shard: HashMap<ShardId, KeyedRows>,
    /// The RETURNING rows.
    returned: Vec<Row>,
    /// Which input each row of `per_shard` came from (see `Error::row`).
    inputs_of: HashMap<ShardId, Vec<usize>>,
    /// The catalog the rows were routed by.
    catalog: Arc<Catalog>,
}

/// Whether `detail` (a unique or foreign key violation's `Key (a, b)=(1,
/// 2) …`) names `row`'s values of those columns, as the message shows them.
fn key_detail_names(table: &TableDef, row: &[Value], detail: Option<&str>) -> bool {
    let Some(rest) = detail.and_then(|d| d.strip_prefix("Key (")) else {
        return false;
    };
    let Some((columns, rest)) = rest.split_once(")=(") else {
        return false;
    };
    let shown: Option<Vec<String>> = columns
        .split(", ")
        .map(|name| {
            let c = table.columns.iter().position(|c| c.name == name)?;
            Some(row.get(c)?.to_text().unwrap_or_else(|| "null".into()))
        })
        .collect();
    shown.is_some_and(|values| {
        rest.strip_prefix(&values.join(", "))
            .is_some_and(|tail| tail.starts_with(')'))
    })
}

/// What the router needs from the node: the catalog, and a way to reach shards.
pub trait Cluster {
    /// The shard this router runs on.
    fn local_shard(&self) -> ShardId;
    /// The node's first shard: where DDL, sequence records and the
    /// decisions of blocks that changed the catalog go (its shard 0).
    fn home_shard(&self) -> ShardId {
        0
    }
    /// Whether `shard` runs on this node (in a cluster, shard numbers are
    /// cluster-wide).
    fn is_local(&self, shard: ShardId) -> bool {
        let _ = shard;
        true
    }
    /// Whether this node is one of a cluster's.
    fn in_cluster(&self) -> bool {
        false
    }
    /// Whether shards keep copies on other nodes, so that a failover
    /// replaces a master that cannot be reached (docs/CLUSTER.md §6).
    fn replicated(&self) -> bool {
        false
    }
    fn catalog(&self) -> Arc<Catalog>;
    /// The catalog transaction block `txn` sees: its own changes too, once
    /// it made some (see `shard/ddl.rs`).
    fn catalog_as(&self, txn: TxId) -> Arc<Catalog> {
        let _ = txn;
        self.catalog()
    }
    /// Sends a request to a shard (its own shard included) and awaits the reply.
    fn call(
        &self,
        shard: ShardId,
        request: ShardRequest,
    ) -> impl Future<Output = Result<ShardResponse>>;
    /// Sends a request whose reply nobody waits for. On this node it is
    /// queued behind every request this router sent the shard before, and
    /// ahead of every later one; to another node's shard it goes in the
    /// background, in no particular order. Fails only if the shard is gone.
    fn post(&self, shard: ShardId, request: ShardRequest) -> impl Future<Output = Result<()>> {
        async move { self.call(shard, request).await.map(|_| ()) }
    }
    /// A hidden row id unique in the node.
    fn next_row_id(&self) -> u64;
    /// A transaction id unique in the node.
    fn next_tx(&self) -> TxId;
    /// Starts a statement's snapshot: returns `(floor, snapshot)`; the
    /// caller ends it with `end_read(floor)`.
    fn begin_read(&self) -> (Timestamp, Timestamp);
    fn end_read(&self, floor: Timestamp);
    /// A commit timestamp.
    fn tick(&self) -> Timestamp;
    /// Resolves once every log of the node is durable up to its entry of
    /// `positions` (see `tessera_storage::deps`).
    fn wait_durable(&self, positions: Positions) -> impl Future<Output = Result<()>> {
        let _ = positions;
        async { Ok(()) }
    }
    /// The node's table statistics, when it keeps any (the planner orders
    /// joins by them).
    fn table_stats(&self) -> Option<Arc<crate::stats::TableStats>> {
        None
    }
    /// The wall clock, in microseconds since 2000-01-01 UTC: what `now()`
    /// reads at the start of a transaction or statement.
    fn wall_clock(&self) -> i64 {
        tessera_types::datetime::wall_clock()
    }
}

/// A statement's snapshot, released however the statement ends.
struct Snapshot<'a, C: Cluster> {
    cluster: &'a C,
    floor: Timestamp,
    ts: Timestamp,
}

impl<'a, C: Cluster> Snapshot<'a, C> {
    fn begin(cluster: &'a C) -> Snapshot<'a, C> {
        let (floor, ts) = cluster.begin_read();
        Snapshot { cluster, floor, ts }
    }
}

impl<C: Cluster> Drop for Snapshot<'_, C> {
    fn drop(&mut self) {
        self.cluster.end_read(self.floor);
    }
}

/// Where a session's reads may go besides masters
/// (`tessera.read_preference`; docs/CLUSTER.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// A replica: this node's copy of the shard if it holds one, else
    /// another member's; the master only when no replica can serve.
    Replica,
    /// Any copy: this node's if it holds one (master or replica), else
    /// any member's.
    Any,
}

impl ReadFrom {
    /// `tessera.read_preference`'s values; `leader` (the default) is
    /// `None`.
    pub fn parse(value: &str) -> Option<Option<ReadFrom>> {
        let value = value.trim();
        let is = |name: &str| value.eq_ignore_ascii_case(name);
        if is("leader") || is("master") {
            Some(None)
        } else if is("replica") {
            Some(Some(ReadFrom::Replica))
        } else if is("any") {
            Some(Some(ReadFrom::Any))
        } else {
            None
        }
    }
}

tokio::task_local! {
    /// Set while a statement whose reads may go to replicas runs: the
    /// cluster sends its plain reads (`ShardRequest::for_copy`) to a copy.
    pub static READ_FROM: ReadFrom;
}

pub struct Router<C: Cluster> {
    cluster: C,
    retry_seed: Cell<u64>,
}

/// Settings a client may SET and SHOW besides the reported ones.
pub(crate) const OTHER_SETTINGS: &[(&str, &str)] = &[
    ("extra_float_digits", "1"),
    ("search_path", crate::names::SEARCH_PATH_DEFAULT),
    ("statement_timeout", "0"),
    ("lock_timeout", "0"),
    ("idle_in_transaction_session_timeout", "0"),
    ("client_min_messages", "notice"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
    ("synchronous_commit", "on"),
    // Where SELECTs read in a replicated cluster: `leader` (masters),
    // `replica` or `any` (docs/CLUSTER.md §5).
    ("tessera.read_preference", "leader"),
    ("jit", "off"),
    ("bytea_output", "hex"),
    ("max_identifier_length", "63"),
    // The one table access method pg_am lists (SQLAlchemy's table
    // reflection reads it with current_setting).
    ("default_table_access_method", "heap"),
    // What pg_dump's output sets first. Tessera has no function bodies,
    // xml, row security policies or tablespaces, so they change nothing.
    ("check_function_bodies", "on"),
    ("xmloption", "content"),
    ("row_security", "on"),
    ("default_tablespace", ""),
    // What pg_dump sets before it reads: Tessera's scans share nothing
    // and it quotes identifiers where needed either way.
    ("synchronize_seqscans", "on"),
    ("quote_all_identifiers", "off"),
    (
        "password_encryption",
        crate::password::PASSWORD_ENCRYPTION_DEFAULT,
    ),
];

/// `statement` with its clear password replaced by what is stored for
/// it, as the session's `password_encryption` says; an empty password
/// clears it, with a notice, as in PostgreSQL.
fn hash_passwords(
    statement: &crate::plan::RoleStatement,
    session: &SessionState,
    notices: &mut Vec<Notice>,
) -> Result<crate::plan::RoleStatement> {
    use crate::plan::RoleStatement;
    let mut statement = statement.clone();
    let (RoleStatement::Create {
        name, attributes, ..
    }
    | RoleStatement::Alter { name, attributes }) = &mut statement
    else {
        return Ok(statement);
    };
    if let Some(Some(password)) = &attributes.password {
        if password.is_empty() {
            notices.push(Notice::new(
                sqlstate::SUCCESSFUL_COMPLETION,
                "empty string is not a valid password, clearing password",
            ));
            attributes.password = Some(None);
        } else {
            let method = session
                .settings
                .get("password_encryption")
                .and_then(|v| crate::password::PasswordEncryption::parse(v))
                .unwrap_or(crate::password::PasswordEncryption::ScramSha256);
            let stored = crate::password::encrypt(password, name, method)?;
            attributes.password = Some(Some(stored));
        }
    }
    Ok(statement)
}

/// Settings SET may not change (PostgreSQL: 55P02).
pub(crate) const READ_ONLY_SETTINGS: &[&str] = &[
    "is_superuser",
    "server_version",
    "server_encoding",
    "integer_datetimes",
    "in_hot_standby",
    "max_identifier_length",
];

/// Every setting's value as `SHOW` shows it, by canonical name, with the
/// session's custom (dotted) ones: what `current_setting` reads.
fn setting_values(session: &SessionState) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = session
        .settings
        .iter()
        .filter(|(k, _)| k.contains('.'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, _) in REPORTED_SETTINGS.iter().chain(OTHER_SETTINGS) {
        if let Ok(value) = show_setting(session, name) {
            values.insert(name.to_string(), value);
        }
    }
    for (name, value, ..) in crate::system::preset_settings() {
        values.entry(name.to_string()).or_insert(value);
    }
    values
}

/// What `SHOW name` shows: inside a block its isolation and read-only
/// mode, else the session's value or the default.
fn show_setting(session: &SessionState, name: &str) -> Result<String> {
    let key = canonical_setting(name)
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| name.to_string());
    let in_block = match &session.txn {
        Some(t) if key == "transaction_isolation" => Some(t.isolation.name()),
        Some(t) if key == "transaction_read_only" => Some(if t.read_only { "on" } else { "off" }),
        _ => None,
    };
    // Outside a block, the next transaction's level.
    let key = match key.as_str() {
        "transaction_isolation" => "default_transaction_isolation".to_string(),
        "transaction_read_only" => "default_transaction_read_only".to_string(),
        _ => key,
    };
    in_block
        .map(str::to_string)
        .or_else(|| session.settings.get(&key).cloned())
        .or_else(|| canonical_setting(name).map(|(_, d)| d.to_string()))
        .or_else(|| {
            // Fixed when the server was built: server_version_num,
            // max_identifier_length, max_index_keys.
            crate::system::preset_settings()
                .into_iter()
                .find(|(n, ..)| n.eq_ignore_ascii_case(name))
                .map(|(_, v, ..)| v)
        })
        .ok_or_else(|| {
            Error::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{name}\""),
            )
        })
}

/// A setting's canonical name and default, for a name in any case; `None`
/// for a setting there is no such (SET and startup packets refuse it, 42704).
pub fn canonical_setting(name: &str) -> Option<(&'static str, &'static str)> {
    REPORTED_SETTINGS
        .iter()
        .chain(OTHER_SETTINGS)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .copied()
}

/// Polls two futures together and returns both outputs.
pub(crate) async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        if out_a.is_some() && out_b.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (
        out_a.expect("first future completed"),
        out_b.expect("second future completed"),
    )
}

/// Polls futures together and returns their outputs in order.
pub(crate) async fn join_all<F: Future>(mut futures: Vec<F>) -> Vec<F::Output> {
    if futures.len() <= 1 {
        // One shard (a point statement): nothing to poll together, and
        // nothing to allocate.
        let mut outputs = Vec::with_capacity(futures.len());
        if let Some(f) = futures.pop() {
            outputs.push(f.await);
        }
        return outputs;
    }
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

impl<C: Cluster> Router<C> {
    pub fn new(cluster: C) -> Router<C> {
        Router {
            cluster,
            retry_seed: Cell::new(0x9E37_79B9_7F4A_7C15 ^ cluster_seed()),
        }
    }

    pub fn cluster(&self) -> &C {
        &self.cluster
    }

    /// The shard holding the rows of a table in tier `tier` whose sharding
    /// key is `sharding_key`.
    fn shard_of_key(&self, catalog: &Catalog, tier: u16, sharding_key: &[u8]) -> ShardId {
        catalog.shard_of_bucket(catalog.bucket_of_hash(tier, hash_key(sharding_key)))
    }

    fn all_shards(&self, catalog: &Catalog) -> Vec<ShardId> {
        catalog.shards()
    }

    /// `request` for rows, sent where `catalog`'s bucket map says: in a
    /// cluster, where buckets move, it carries the map's epoch, and a
    /// shard that gave buckets away since refuses it (the statement then
    /// runs again by the newer map: see [`Router::execute_resolved`]).
    fn routed(&self, catalog: &Catalog, request: ShardRequest) -> ShardRequest {
        if self.cluster.in_cluster() {
            ShardRequest::Routed {
                epoch: catalog.buckets.moves.epoch,
                request: Box::new(request),
            }
        } else {
            request
        }
    }

    /// The shard holding the row of `table` whose sharding key (or storage
    /// key) is `key`: a global table's rows are on this node's home shard.
    fn shard_of_row(&self, catalog: &Catalog, table: &TableDef, key: &[u8]) -> ShardId {
        if table.global {
            self.cluster.home_shard()
        } else {
            self.shard_of_key(catalog, table.tier, key)
        }
    }

    /// The shards holding rows of `table`.
    fn table_shards(&self, catalog: &Catalog, table: &TableDef) -> Vec<ShardId> {
        if table.global {
            vec![self.cluster.home_shard()]
        } else {
            catalog.tier_shards(table.tier)
        }
    }

    /// The shards a statement with this target runs on.
    fn targets(
        &self,
        catalog: &Catalog,
        table: &TableDef,
        target: &Target,
        params: &Params,
    ) -> Result<Vec<ShardId>> {
        Ok(match target {
            Target::NoTable => vec![self.cluster.local_shard()],
            _ if table.global => vec![self.cluster.home_shard()],
            Target::AllShards => catalog.tier_shards(table.tier),
            Target::ShardingKey(exprs) => {
                match eval_key(table, &table.sharding_key, exprs, params)? {
                    Some(key) => vec![self.shard_of_key(catalog, table.tier, &key)],
                    None => vec![],
                }
            }
        })
    }

    async fn select(
        &self,
        plan: &Arc<Plan>,
        select: &SelectPlan,
        init: &[InitPlan],
        params: Arc<Params>,
        session: &mut SessionState,
    ) -> Result<Rows> {
        let (statement_snapshot, read) = self.read_point(session);
        let rows = match self.run_init(init, params, session, read).await {
            Ok(params) => self.select_at(plan, select, params, session, read).await,
            Err(e) => Err(e),
        };
        drop(statement_snapshot);
        rows
    }

    /// A statement's own SELECT (not one inside a write or DDL): with the
    /// session's `tessera.read_preference`, its reads may go to replicas.
    async fn top_select(
        &self,
        plan: &Arc<Plan>,
        select: &SelectPlan,
        init: &[InitPlan],
        params: Arc<Params>,
        session: &mut SessionState,
    ) -> Result<Rows> {
        match self.read_from(session) {
            Some(from) => {
                READ_FROM
                    .scope(from, self.select(plan, select, init, params, session))
                    .await
            }
            None => self.select(plan, select, init, params, session).await,
        }
    }

    /// Where the session's reads may go besides masters: its
    /// `tessera.read_preference`, in a replicated cluster, outside a block
    /// or in a READ ONLY READ COMMITTED one (a block that writes reads its
    /// own writes; a copy reads at its own newest snapshot, not the
    /// block's, so REPEATABLE READ and SERIALIZABLE read masters).
    fn read_from(&self, session: &SessionState) -> Option<ReadFrom> {
        if !self.cluster.replicated() {
            return None;
        }
        if let Some(t) = &session.txn {
            if !t.read_only || t.isolation != crate::engine::Isolation::ReadCommitted {
                return None;
            }
        }
        let setting = session.settings.get("tessera.read_preference")?;
        ReadFrom::parse(setting).flatten()
    }

    /// Where a statement's reads look: REPEATABLE READ and SERIALIZABLE
    /// read the transaction's snapshot; otherwise each statement takes its
    /// own (held until the returned guard drops). Also the transaction,
    /// and whether SERIALIZABLE tracks its reads.
    fn read_point(
        &self,
        session: &mut SessionState,
    ) -> (Option<Snapshot<'_, C>>, (Timestamp, Option<TxId>, bool)) {
        let txn_snapshot = session.txn.as_mut().and_then(|t| self.txn_snapshot(t));
        let txn = session.txn.as_ref().map(|t| t.id);
        let track_reads = session.txn.as_ref().is_some_and(|t| t.tracks_reads());
        let statement_snapshot = match txn_snapshot {
            Some(_) => None,
            None => Some(Snapshot::begin(&self.cluster)),
        };
        let ts = txn_snapshot.unwrap_or_else(|| statement_snapshot.as_ref().map_or(0, |s| s.ts));
        (statement_snapshot, (ts, txn, track_reads))
    }

    /// A SELECT at the snapshot `read` (timestamp, transaction, whether
    /// SERIALIZABLE tracks its reads).
    async fn select_at(
        &self,
        plan: &Arc<Plan>,
        select: &SelectPlan,
        params: Arc<Params>,
        session: &mut SessionState,
        read: (Timestamp, Option<TxId>, bool),
    ) -> Result<Rows> {
        if let Some(source) = &select.source {
            let mut sink = Sink::new(&select.fragment);
            let started;
            match source {
                // The last join hands its rows straight to the fragment
                // (filter, projection or aggregates), never holding them.
                Source::Join(join)
                    if !matches!(join.right, Source::Lateral { .. })
                        && !crate::explain::measuring() =>
                {
                    // Boxed: the inputs are SELECTs themselves.
                    let mut emit =
                        |block: &mut Rows| sink.push_batch(&block.refs(0..block.len()), &params);
                    Box::pin(self.run_join(join, &params, session, read, &mut emit)).await?;
                    started = std::time::Instant::now();
                }
                _ => {
                    let rows = Box::pin(self.gather(source, &params, session, read)).await?;
                    started = std::time::Instant::now();
                    for refs in rows.batches(crate::batch::BATCH_ROWS) {
                        sink.push_batch(&refs, &params)?;
                    }
                }
            }
            let rows = sink.finish(&params)?;
            if crate::explain::measuring() {
                crate::explain::record(select, "fragment", rows.len(), started.elapsed());
            }
            return finish_select(select, rows, &params);
        }
        let started = std::time::Instant::now();
        let (ts, txn, track_reads) = read;
        // Reads from copies run at each copy's newest snapshot, not `ts`
        // (`ShardContext::copy_read`): they route by the newest map.
        let catalog = match READ_FROM.try_with(|_| ()) {
            Ok(()) => self.catalog_of(session),
            Err(_) => self.catalog_of(session).routed_at(ts),
        };
        let mut read_on = Vec::new();
        let global = match (&select.fragment.table, &select.fragment.index) {
            // Usable once built for this snapshot.
            (Some(t), Some(ix))
                if ix
                    .global(t)
                    .is_some_and(|i| i.valid_from != 0 && i.valid_from <= ts) =>
            {
                Some((t, ix))
            }
            _ => None,
        };
        let (shards, key) = match (global, &select.fragment.table) {
            (Some((t, ix)), _) => {
                let found = self
                    .through_global_index(&catalog, t, ix, &params, (ts, txn, track_reads))
                    .await?;
                match found {
                    Some((entry_shard, shard, key)) => {
                        read_on.push(entry_shard);
                        (vec![shard], Some(key))
                    }
                    None => (vec![], None),
                }
            }
            (None, Some(t)) => (self.targets(&catalog, t, &select.target, &params)?, None),
            (None, None) => (vec![self.cluster.local_shard()], None),
        };
        if track_reads {
            if let Some(t) = session.txn.as_mut() {
                t.reads.extend(shards.iter().chain(&read_on).copied());
            }
        }
        let scans = shards
            .iter()
            .map(|s| {
                let scan = ShardRequest::Scan {
                    plan: plan.clone(),
                    params: params.clone(),
                    ts,
                    txn,
                    track_reads,
                    key: key.clone(),
                };
                (*s, self.routed(&catalog, scan))
            })
            .collect();
        let runs = self.scan_shards(scans).await?;
        // A shard whose snapshot predates the index read the table
        // instead: its rows are then sorted with the others.
        let merged =
            select.merges_shard_order() && runs.iter().all(|run| in_order(run, &select.order_by));
        let read = runs.iter().map(Rows::len).sum();
        let mut rows = match merged {
            true => merge_runs(runs, &select.order_by),
            false => {
                let mut rows = Rows::default();
                for mut run in runs {
                    rows.append(&mut run);
                }
                rows
            }
        };
        if crate::explain::measuring() {
            crate::explain::record(select, "fragment", read, started.elapsed());
        }
        if shards.is_empty() {
            // No shard can hold a matching row; aggregates still produce their empty-input row.
            if let crate::plan::FragmentOutput::PartialAggregate { aggs, .. } =
                &select.fragment.output
            {
                for mut row in select.fragment.output.empty_input_groups() {
                    for a in aggs {
                        AggState::new(a).write_partial(a, &params, &mut row)?;
                    }
                    rows.push(row);
                }
            }
        }
        finish_rows(select, rows, &params, merged)
    }

    /// The rows of a query's FROM when it is more than one table.
    async fn gather(
        &self,
        source: &Source,
        params: &Arc<Params>,
        session: &mut SessionState,
        read: (Timestamp, Option<TxId>, bool),
    ) -> Result<Rows> {
        if crate::explain::measuring() {
            let started = std::time::Instant::now();
            let rows = Box::pin(self.gather_rows(source, params, session, read)).await?;
            crate::explain::record(source, "source", rows.len(), started.elapsed());
            return Ok(rows);
        }
        self.gather_rows(source, params, session, read).await
    }

    async fn gather_rows(
        &self,
        source: &Source,
        params: &Arc<Params>,
        session: &mut SessionState,
        read: (Timestamp, Option<TxId>, bool),
    ) -> Result<Rows> {
        match source {
            Source::Query {
                plan,
                offset,
                width,
            } => {
                let rows = self.item_rows(plan, params, session, read).await?;
                let rows = rows.place(*offset, *width);
                memory::check()?;
                Ok(rows)
            }
            Source::Join(join) if matches!(join.right, Source::Lateral { .. }) => {
                let left = Box::pin(self.gather(&join.left, params, session, read)).await?;
                crate::subquery::lateral_join(join, left, params)
            }
            Source::Lateral { .. } => crate::subquery::lateral_alone(source, params),
            Source::Join(join) => {
                let mut rows = Rows::default();
                let mut emit = |block: &mut Rows| {
                    rows.append(block);
                    memory::check()
                };
                Box::pin(self.run_join(join, params, session, read, &mut emit)).await?;
                Ok(rows)
            }
            Source::SetOp(op) => {
                let left = Box::pin(self.gather(&op.left, params, session, read)).await?;
                let right = Box::pin(self.gather(&op.right, params, session, read)).await?;
                crate::join::set_rows(op, left, right, params)
            }
            Source::Values(rows) => crate::join::values_rows(rows, params),
            Source::Recursive(r) => {
                let start = Box::pin(self.gather(&r.start, params, session, read)).await?;
                let (mut rounds, mut work) = crate::join::Rounds::start(r, start)?;
                while !work.is_empty() {
                    let with_work = Arc::new(params.with_work(r.work, work));
                    let round = Box::pin(self.gather(&r.step, &with_work, session, read)).await?;
                    work = rounds.add(r, round, params)?;
                }
                Ok(rounds.finish())
            }
            Source::Work(n) => Ok(params.work_rows(*n)?.clone()),
            Source::Probe { init, keys } => {
                let (rows, found) = crate::subquery::probe(params, *init, keys)?;
                let found = crate::subquery::copies(rows, found);
                memory::check()?;
                Ok(found)
            }
            Source::Init(id) => {
                let rows = params.init_rows(*id)?.rows.clone();
                memory::check()?;
                Ok(rows)
            }
        }
    }

    /// Sends every shard the request `make` makes and waits for them all.
    async fn on_every_shard(&self, make: impl Fn() -> ShardRequest) -> Result<()> {
        let catalog = self.cluster.catalog();
        let calls: Vec<_> = self
            .all_shards(&catalog)
            .into_iter()
            .map(|s| self.cluster.call(s, make()))
            .collect();
        for r in join_all(calls).await {
            r?;
        }
        Ok(())
    }

    /// Sends each shard its `Scan` and returns their rows, one run per
    /// shard, checking the node's memory as they arrive.
    async fn scan_shards(&self, scans: Vec<(ShardId, ShardRequest)>) -> Result<Vec<Rows>> {
        let calls: Vec<_> = scans
            .into_iter()
            .map(|(shard, scan)| self.cluster.call(shard, scan))
            .collect();
        let mut runs = Vec::with_capacity(calls.len());
        for reply in join_all(calls).await {
            match reply? {
                ShardResponse::Rows(r) => {
                    runs.push(r);
                    memory::check()?;
                }
                other => {
                    return Err(Error::internal(format!(
                        "unexpected reply to a scan: {other:?}"
                    )))
                }
            }
        }
        Ok(runs)
    }

    /// Runs `join` (not a lateral one), handing its rows to `emit`: the
    /// left side first, then the right side by key when it has an index
    /// path and the left side few keys (index nested-loop join), else
    /// whole, merged with the left when both come in key order (merge
    /// join), or hash-joined.
    async fn run_join(
        &self,
        join: &crate::plan::Join,
        params: &Arc<Params>,
        session: &mut SessionState,
        read: (Timestamp, Option<TxId>, bool),
        emit: &mut dyn FnMut(&mut Rows) -> Result<()>,
    ) -> Result<()> {
        let left = Box::pin(self.gather(&join.left, params, session, read)).await?;
        // The right rows stay as narrow as their item until joined.
        let right_at = crate::join::narrow_right(join);
        let (right, looked_up) =
            Box::pin(self.join_right(join, &left, right_at, params, session, read)).await?;
        if !looked_up {
            if let Some(path) = crate::join::MergePath::of(join) {
                return crate::join::merge_into(join, &path, left, right, right_at, params, emit);
            }
        }
        crate::join::join_into(join, left, right, right_at, params, emit)
    }

    /// The rows of one FROM item's query, as narrow as the item.
    async fn item_rows(
        &self,
        plan: &Arc<Plan>,
        params: &Arc<Params>,
        session: &mut SessionState,
        read: (Timestamp, Option<TxId>, bool),
    ) -> Result<Rows> {
        let Plan::Select(select) = &**plan else {
            return Err(Error::internal("a FROM item that is not a query"));
        };
        if plan.uses_outer() {
            return crate::subquery::run_local(select, params);
        }
        self.select_at(plan, select, params.clone(), session, read)
            .await
    }

    /// The rows of `join`'s right side that may join `left`'s, and whether
    /// they were read by key: when the right side is a table whose primary
    /// key or index the join's equalities fix and the left side has few
    /// keys, only the rows those keys find (an index nested-loop join, the
    /// keys sent to the shards in one request each), else all of them.
    async fn join_right(
        &self,
        join: &crate::plan::Join,
        left: &Rows,
        right_at: crate::join::RightAt,
        params: &Arc<Params>,
        session: &mut SessionState,
        read: (Timestamp, Option<TxId>, bool),
    ) -> Result<(Rows, bool)> {
        let catalog = self.catalog_of(session);
        let stats = self.cluster.table_stats();
        let table_rows = |path: &crate::join::LookupPath| stats.as_ref()?.rows(path.table.id);
        let columns = |path: &crate::join::LookupPath| stats.as_ref()?.columns(path.table.id);
        // An index path when the left side's keys are few next to the
        // table's rows; else, when they are few at all, the keys filter
        // the table where it is read.
        let mut found = None;
        let paths = [
            crate::join::LookupPath::of(join, &catalog),
            crate::join::LookupPath::filter_of(join),
        ];
        for path in paths.into_iter().flatten() {
            let keys = path.keys(left, params)?.filter(|keys| {
                path.worth_it(keys.len(), table_rows(&path), columns(&path).as_deref())
            });
            if let Some(keys) = keys {
                found = Some((path, keys));
                break;
            }
        }
        let Some((path, keys)) = found else {
            // A decorrelated aggregate: only the groups of the left keys.
            let worth_it = |path: &crate::join::LookupPath, keys: usize| {
                path.worth_it(keys, table_rows(path), columns(path).as_deref())
            };
            let narrowed = crate::join::narrowed_groups(join, left, params, &catalog, worth_it)?;
            if let (Some((plan, keys)), Source::Query { offset, width, .. }) =
                (narrowed, &join.right)
            {
                let started = std::time::Instant::now();
                let rows = self.item_rows(&plan, params, session, read).await?;
                if crate::explain::measuring() {
                    crate::explain::record(join, "groups", keys, started.elapsed());
                    crate::explain::record(&join.right, "source", rows.len(), started.elapsed());
                }
                return match right_at {
                    Some(_) => Ok((rows, true)),
                    None => Ok((rows.place(*offset, *width), true)),
                };
            }
            let rows = match (right_at, &join.right) {
                (Some(_), Source::Query { plan, .. }) => {
                    let started = std::time::Instant::now();
                    let rows = self.item_rows(plan, params, session, read).await?;
                    if crate::explain::measuring() {
                        let took = started.elapsed();
                        crate::explain::record(&join.right, "source", rows.len(), took);
                    }
                    rows
                }
                _ => self.gather(&join.right, params, session, read).await?,
            };
            return Ok((rows, false));
        };
        let started = std::time::Instant::now();
        let key_count = keys.len();
        let (ts, txn, track_reads) = read;
        // Keys that name their shard go there alone; others to every shard.
        let mut by_shard: Vec<(ShardId, Arc<Rows>)> = Vec::new();
        if path.routes() {
            let mut split: HashMap<ShardId, Rows> = HashMap::new();
            for key in keys.iter() {
                let shard = self.shard_of_row(&catalog, path.table, &path.sharding_key(key));
                split
                    .entry(shard)
                    .or_insert_with(|| Rows::new(keys.width()))
                    .push_slice(key);
            }
            by_shard.extend(split.into_iter().map(|(s, k)| (s, Arc::new(k))));
        } else if !keys.is_empty() {
            let keys = Arc::new(keys);
            for shard in self.table_shards(&catalog, path.table) {
                by_shard.push((shard, keys.clone()));
            }
        }
        if track_reads {
            if let Some(t) = session.txn.as_mut() {
                t.reads.extend(by_shard.iter().map(|(s, _)| *s));
            }
        }
        let scans = by_shard
            .into_iter()
            .map(|(shard, keys)| {
                let scan = ShardRequest::Scan {
                    plan: path.plan(keys),
                    params: params.clone(),
                    ts,
                    txn,
                    track_reads,
                    key: None,
                };
                (shard, self.routed(&catalog, scan))
            })
            .collect();
        let mut rows = Rows::default();
        for mut run in self.scan_shards(scans).await? {
            rows.append(&mut run);
        }
        if crate::explain::measuring() {
            let how = if path.filter { "filter" } else { "lookup" };
            crate::explain::record(join, how, key_count, started.elapsed());
            crate::explain::record(&join.right, "source", rows.len(), started.elapsed());
        }
        let rows = finish_select(path.select, rows, params)?;
        match right_at {
            Some(_) => Ok((rows, true)),
            None => Ok((rows.place(path.offset, path.width), true)),
        }
    }

    /// Runs a statement that calls a waiting advisory lock function: when
    /// a lock is held elsewhere, the locks the run took are given back,
    /// and a query that writes nothing runs again once a lock is released
    /// (checking for a cancel or timeout meanwhile); one that writes
    /// fails.
    async fn execute_waiting(
        &self,
        statement: &Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        let locks = crate::advisory::locks();
        let rerunnable = matches!(&*statement.plan, Plan::Select(_)) && !statement.uses_sequences;
        loop {
            locks.forget_statement(session.pid());
            let result = self.execute_plan(statement, params.clone(), session).await;
            match result {
                Err(e) if crate::advisory::is_wait(&e) => {
                    locks.undo_statement(session.pid());
                    if !rerunnable {
                        return Err(Error::unsupported(
                            "waiting for an advisory lock in a statement that writes (take it in a SELECT of its own)",
                        ));
                    }
                    locks
                        .wait_release(std::time::Duration::from_millis(100))
                        .await;
                    memory::check()?;
                }
                other => {
                    locks.forget_statement(session.pid());
                    return other;
                }
            }
        }
    }

    /// Runs the statement's init plans in order at the snapshot `read`:
    /// the parameters then carry their rows (each may read the earlier
    /// ones').
    /// ALTER TABLE that changes the catalog only. Validations run with
    /// the table's writes held on every shard (as ADD PRIMARY KEY does), so
    /// no row they would refuse slips in before the new definition is
    /// published; unique constraints are built first (online), and dropped
    /// again if a validation fails.
    async fn alter_table(
        &self,
        change: &crate::plan::TableChange,
        params: &Arc<Params>,
        session: &mut SessionState,
    ) -> Result<Vec<Notice>> {
        let crate::plan::TableChange {
            table,
            new,
            validations,
            unique,
            drop_indexes,
            dropped,
            path,
            added,
            ..
        } = change;
        // Added columns: the value the stored rows take, once.
        let mut new = new.clone();
        let mut validations = validations.to_vec();
        for a in added {
            let value = a.fill.eval(&[], params)?;
            if value.is_null() {
                validations.extend(a.if_null.clone());
            }
            new.columns[a.position].missing = Some(value);
        }
        let new = &new;
        let mut built = Vec::new();
        for (name, columns) in unique {
            let mut index = tessera_types::IndexDef::new(
                name.clone(),
                table,
                columns.clone(),
                vec![false; columns.len()],
                true,
            );
            index.constraint = true;
            if let Err(e) = self.create_index(&index, false, session).await {
                self.drop_indexes(table.schema, built, session).await;
                return Err(e);
            }
            built.push(name.clone());
        }
        let catalog = self.catalog_of(session);
        let shards = self.all_shards(&catalog);
        // Inside a block, the block holds the table until it ends.
        let in_block = ddl_block(session).is_some();
        let holder = self.cluster.next_tx();
        let mut outcome = Ok(());
        if !validations.is_empty() && !in_block {
            if let Some(e) = self.lock_table(&shards, holder, table.id).await {
                outcome = Err(e);
            }
        }
        if !validations.is_empty() {
            for v in &validations {
                if outcome.is_err() {
                    break;
                }
                let Plan::Select(select) = &*v.query else {
                    outcome = Err(Error::internal("a validation that is not a query"));
                    break;
                };
                outcome = match self
                    .select(&v.query, select, &[], params.clone(), session)
                    .await
                {
                    Ok(rows) if rows.is_empty() => Ok(()),
                    Ok(rows) => {
                        let e = Error::new(v.code, v.message.clone());
                        Err(match &v.detail {
                            Some((before, after)) => {
                                let values: Vec<String> = rows[0]
                                    .iter()
                                    .map(|x| x.to_text().unwrap_or_else(|| "null".into()))
                                    .collect();
                                e.with_detail(format!("{before}{}{after}", values.join(", ")))
                            }
                            None => e,
                        })
                    }
                    Err(e) => Err(e),
                };
            }
        }
        let mut notices = Vec::new();
        if outcome.is_ok() {
            let alter = ShardRequest::AlterTable {
                table: new.clone(),
                dropped: dropped.clone(),
                path: path.clone(),
            };
            outcome = match self
                .ddl(ddl_block(session), alter)
                .await
                .and_then(expect_done)
            {
                Ok(told) => {
                    notices = told;
                    Ok(())
                }
                Err(e) => Err(e),
            };
        }
        if outcome.is_ok() && in_block && reshapes(table, new) {
            outcome = self.reshape_in_block(table.id, session).await;
        }
        if !validations.is_empty() && !in_block {
            self.end_on(&shards, holder).await;
        }
        if let Err(e) = outcome {
            self.drop_indexes(table.schema, built, session).await;
            return Err(e);
        }
        if !drop_indexes.is_empty() {
            let drop = ShardRequest::Drop {
                kind: Relation::Index,
                names: drop_indexes
                    .iter()
                    .map(|n| RelationRef::of(table.schema, n))
                    .collect(),
                if_exists: true,
                cascade: false,
                path: vec![],
            };
            self.session_ddl(session, drop).await?;
        }
        Ok(notices)
    }

    /// A catalog change in the session's block (if it has one) that
    /// answers with notices only.
    async fn session_ddl(
        &self,
        session: &SessionState,
        request: ShardRequest,
    ) -> Result<Vec<Notice>> {
        expect_done(self.ddl(ddl_block(session), request).await?)
    }

    /// Sends a catalog change to shard 0, inside `block` if it is made in
    /// one (see `shard/ddl.rs`).
    async fn ddl(&self, block: Block, request: ShardRequest) -> Result<ShardResponse> {
        let request = match block {
            Some((txn, savepoint)) => ShardRequest::InBlock {
                txn,
                savepoint,
                request: Box::new(request),
            },
            None => request,
        };
        self.cluster.call(self.cluster.home_shard(), request).await
    }

    /// The catalog `session` sees: its block's pending one once the block
    /// changed the catalog (see `shard/ddl.rs`).
    fn catalog_of(&self, session: &SessionState) -> Arc<Catalog> {
        self.catalog_in(session.txn.as_ref())
    }

    fn catalog_in(&self, txn: Option<&Txn>) -> Arc<Catalog> {
        match txn {
            Some(t) if t.ddl => self.cluster.catalog_as(t.id),
            _ => self.cluster.catalog(),
        }
    }

    /// Holds every write to `table` on `shards` for `holder` (released by
    /// `end_on`); the first error if a shard refuses.
    async fn lock_table(
        &self,
        shards: &[ShardId],
        holder: TxId,
        table: tessera_types::TableId,
    ) -> Option<Error> {
        let locks = shards
            .iter()
            .map(|s| {
                self.cluster
                    .call(*s, ShardRequest::LockTable { holder, table })
            })
            .collect();
        join_all(locks).await.into_iter().find_map(Result::err)
    }

    /// Drops indexes an unfinished ALTER TABLE built.
    async fn drop_indexes(
        &self,
        schema: tessera_types::SchemaId,
        names: Vec<String>,
        session: &SessionState,
    ) {
        // Inside a block, the block failed: its end drops them.
        if names.is_empty() || ddl_block(session).is_some() {
            return;
        }
        let drop = ShardRequest::Drop {
            kind: Relation::Index,
            names: names.iter().map(|n| RelationRef::of(schema, n)).collect(),
            if_exists: true,
            cascade: false,
            path: vec![],
        };
        if let Err(e) = self.cluster.call(self.cluster.home_shard(), drop).await {
            tracing::warn!("dropping the indexes of a failed ALTER TABLE: {e}");
        }
    }

    /// CREATE TABLE … AS: creates the table, then fills it with an INSERT
    /// of the query; if that fails the table is dropped again.
    async fn create_table_as(
        &self,
        table: &TableDef,
        query: Option<&str>,
        if_not_exists: bool,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        let create = ShardRequest::CreateTable {
            table: table.clone(),
            sequences: vec![],
            if_not_exists,
        };
        let notices = self.session_ddl(session, create).await?;
        let done = |count: u64, notices| QueryResult::command(format!("SELECT {count}"), notices);
        let Some(query) = query.filter(|_| notices.is_empty()) else {
            // Skipped (IF NOT EXISTS) or WITH NO DATA.
            return Ok(QueryResult::command("CREATE TABLE AS", notices));
        };
        let filled = async {
            let catalog = self.catalog_of(session);
            let sql = format!(
                "INSERT INTO {}.{} {query}",
                crate::names::quote_ident(catalog.schema_name(table.schema)),
                crate::names::quote_ident(&table.name)
            );
            let parsed = crate::parser::parse(&sql)?;
            let time = session.time_context(self.cluster.wall_clock());
            let statement = Binder::new(&catalog, &[], time)
                .with_names(session.names())
                .with_stats(self.cluster.table_stats())
                .bind(&parsed[0], &sql)?;
            self.execute_plan(&statement, vec![], session).await
        };
        match filled.await {
            Ok(result) => {
                let count = result
                    .tag
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                Ok(done(count, vec![]))
            }
            Err(e) if ddl_block(session).is_some() => Err(e),
            Err(e) => {
                let drop = ShardRequest::Drop {
                    kind: Relation::Table,
                    names: vec![RelationRef::of(table.schema, &table.name)],
                    if_exists: true,
                    cascade: false,
                    path: vec![],
                };
                if let Err(d) = self.cluster.call(self.cluster.home_shard(), drop).await {
                    tracing::warn!(
                        "could not drop table \"{}\" after a failed CREATE TABLE AS: {d}",
                        table.name
                    );
                }
                Err(e)
            }
        }
    }

    /// Makes durable the sequence records that what the node's sequences
    /// handed out so far needs (see `crate::sequence`; in a cluster, those
    /// made ahead of need are claimed in the background). With `drawn`,
    /// the session whose statement drew values: it fails if a claim that
    /// covers one of them was lost to another node.
    async fn settle_sequences(&self, drawn: Option<&SessionSequences>) -> Result<()> {
        let records = crate::sequence::pending(&self.cluster.catalog());
        if !records.is_empty() {
            expect_done(
                self.cluster
                    .call(
                        self.cluster.home_shard(),
                        ShardRequest::LogSequences(records),
                    )
                    .await?,
            )?;
        }
        match drawn {
            Some(session) => session.check_drawn(),
            None => Ok(()),
        }
    }

    async fn run_init(
        &self,
        init: &[InitPlan],
        mut params: Arc<Params>,
        session: &mut SessionState,
        read: (Timestamp, Option<TxId>, bool),
    ) -> Result<Arc<Params>> {
        for i in init {
            if i.dropped {
                Arc::make_mut(&mut params)
                    .init
                    .push(Arc::new(InitRows::new(Rows::default())));
                continue;
            }
            let rows = match &*i.plan {
                Plan::Select(select) => {
                    Box::pin(self.select_at(&i.plan, select, params.clone(), session, read)).await?
                }
                // A data-modifying WITH query: its RETURNING rows.
                Plan::Insert(_) | Plan::Update(_) | Plan::Delete(_) => {
                    let sequenced = params.sequences.is_some();
                    let plan = i.plan.clone();
                    Box::pin(self.run_write(&plan, params.clone(), sequenced, session))
                        .await?
                        .rows
                }
                _ => {
                    return Err(Error::internal(
                        "an init plan that neither reads nor writes",
                    ))
                }
            };
            let rows = match i.place {
                Some((offset, width)) => rows.place(offset, width),
                None => rows,
            };
            Arc::make_mut(&mut params)
                .init
                .push(Arc::new(InitRows::new(rows)));
        }
        Ok(params)
    }

    /// ALTER TABLE … ADD PRIMARY KEY, or SET (tier = …): the table is
    /// rewritten into a new one defined as `new` (keyed and sharded by a
    /// new key, or in another tier: rows move between shards), which then
    /// takes its name. Writes to the table wait meanwhile (a table
    /// lock on every shard); the copy is one transaction; the swap is one
    /// catalog record, so a crash leaves the old table or the new one,
    /// never half of either (recovery drops an unfinished copy). Inside a
    /// transaction block all three are the block's (its table lock, its
    /// writes, its catalog changes): COMMIT makes the new table the
    /// table, ROLLBACK leaves the old one, and meanwhile other sessions
    /// read the old one.
    async fn rewrite_table(
        &self,
        table: &Arc<TableDef>,
        new: &TableDef,
        columns: &[usize],
        params: &Params,
        session: &mut SessionState,
    ) -> Result<()> {
        let catalog = self.catalog_of(session);
        let indexes: Vec<Arc<tessera_types::IndexDef>> =
            catalog.indexes_of(table.id).cloned().collect();
        let mut def = new.clone();
        def.name = format!("{}{}", Catalog::REWRITE_PREFIX, table.id);
        let temp = def.name.clone();
        let create = ShardRequest::CreateTable {
            table: def,
            sequences: vec![],
            if_not_exists: false,
        };
        let block = ddl_block(session);
        expect_done(self.ddl(block, create).await?)?;
        // The table's indexes, built on the empty rewrite (so the copy
        // maintains them) under names its replacement gives back.
        let mut built = Ok(());
        if !indexes.is_empty() {
            let rewrite = self
                .catalog_of(session)
                .table(table.schema, &temp)
                .cloned()
                .ok_or_else(|| Error::internal("the rewrite of a table is missing"))?;
            for ix in &indexes {
                let mut index = tessera_types::IndexDef::new(
                    Catalog::rewrite_index_name(table.id, &ix.name),
                    &rewrite,
                    ix.columns.clone(),
                    ix.descending.clone(),
                    ix.unique,
                );
                index.constraint = ix.constraint;
                built = Box::pin(self.create_index(&index, false, session))
                    .await
                    .map(|_| ());
                if built.is_err() {
                    break;
                }
            }
        }
        if block.is_some() {
            built?;
            // `begin_ddl` holds the table's writes for the block.
            let new = self
                .copy_into(table, &temp, columns, params, session)
                .await?;
            let replace = ShardRequest::ReplaceTable { old: table.id, new };
            let block = ddl_block(session);
            return self.ddl(block, replace).await.map(|_| ());
        }
        let holder = self.cluster.next_tx();
        let shards = self.all_shards(&catalog);
        let locked = match built {
            Ok(()) => self.lock_table(&shards, holder, table.id).await,
            Err(e) => Some(e),
        };
        let copied = match locked {
            Some(e) => Err(e),
            None if indexes.is_empty() => {
                self.copy_into(table, &temp, columns, params, session).await
            }
            // Index entries are written by a transaction's router.
            None => match self.begin_implicit(session) {
                Err(e) => Err(e),
                Ok(()) => {
                    let copied = self.copy_into(table, &temp, columns, params, session).await;
                    let ended = self.end_implicit(session, copied.is_ok()).await;
                    copied.and_then(|new| ended.map(|()| new))
                }
            },
        };
        let swapped = match copied {
            Ok(new) => {
                let replace = ShardRequest::ReplaceTable { old: table.id, new };
                self.cluster
                    .call(self.cluster.home_shard(), replace)
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        };
        self.end_on(&shards, holder).await;
        if swapped.is_err() {
            let drop = ShardRequest::Drop {
                kind: Relation::Table,
                names: vec![RelationRef::of(table.schema, &temp)],
                if_exists: true,
                cascade: false,
                path: vec![],
            };
            if let Err(d) = self.cluster.call(self.cluster.home_shard(), drop).await {
                tracing::warn!("dropping an unfinished rewrite of \"{}\": {d}", table.name);
            }
        }
        swapped
    }

    /// Copies every row of `from` into the table called `to` (its rewrite
    /// keyed by `key`) in one transaction; returns the new table's id.
    /// Errors as PostgreSQL gives them for ADD PRIMARY KEY.
    async fn copy_into(
        &self,
        from: &Arc<TableDef>,
        to: &str,
        key: &[usize],
        params: &Params,
        session: &mut SessionState,
    ) -> Result<tessera_types::TableId> {
        let catalog = self.catalog_of(session);
        let new = catalog.table(from.schema, to).cloned().ok_or_else(|| {
            Error::internal(format!("the rewrite of \"{}\" is missing", from.name))
        })?;
        let all: Vec<crate::expr::Expr> = (0..from.columns.len())
            .map(crate::expr::Expr::Column)
            .collect();
        let select = SelectPlan::rows(
            Target::AllShards,
            crate::plan::ScanFragment {
                table: Some(from.clone()),
                primary_key: None,
                index: None,
                series: None,
                lookup: None,
                filter: None,
                output: crate::plan::FragmentOutput::Project(all.clone()),
            },
        );
        let query = Arc::new(Plan::Select(Box::new(select.clone())));
        let rows = self
            .select(&query, &select, &[], Arc::new(params.clone()), session)
            .await?;
        // As PostgreSQL: the unique index is built (duplicates refused)
        // before NOT NULL is checked.
        let mut seen = HashSet::new();
        let keyed = rows
            .iter()
            .filter(|r| !key.is_empty() && key.iter().all(|c| !r[*c].is_null()));
        for row in keyed {
            if !seen.insert(encode_key(row, key)) {
                // The duplicate-key detail, in the words of an index build.
                let detail = crate::shard::duplicate_key(&new, row)
                    .detail
                    .map(|d| d.replace("already exists", "is duplicated"))
                    .unwrap_or_default();
                return Err(Error::new(
                    sqlstate::UNIQUE_VIOLATION,
                    format!("could not create unique index \"{}_pkey\"", from.name),
                )
                .with_detail(detail));
            }
        }
        drop(seen);
        for row in &rows {
            if let Some(c) = key.iter().find(|c| row[**c].is_null()) {
                return Err(Error::new(
                    sqlstate::NOT_NULL_VIOLATION,
                    format!(
                        "column \"{}\" of relation \"{}\" contains null values",
                        from.columns[*c].name, from.name
                    ),
                ));
            }
        }
        let insert = InsertPlan {
            table: new.clone(),
            rows: vec![all],
            select: Some(query),
            returning: vec![],
            on_conflict: None,
            arbiters: Default::default(),
            checks: Arc::new([]),
        };
        let per_shard = self
            .insert_requests(&insert, Some(&rows), params, &[])?
            .per_shard;
        self.write("ALTER TABLE", session, false, |mode| {
            Ok(per_shard
                .iter()
                .map(|(s, rows)| {
                    (
                        *s,
                        ShardRequest::Insert {
                            table: new.clone(),
                            rows: rows.clone(),
                            mode,
                            upsert: None,
                        },
                    )
                })
                .collect())
        })
        .await?;
        Ok(new.id)
    }

    /// The UNIQUE constraints of a table just created: its unique indexes.
    /// If one cannot be made, the table is dropped again.
    async fn create_unique_constraints(
        &self,
        schema: tessera_types::SchemaId,
        table: &str,
        unique: &[(String, Vec<usize>)],
        session: &mut SessionState,
    ) -> Result<()> {
        for (name, columns) in unique {
            let catalog = self.catalog_of(session);
            let created = match catalog.table(schema, table) {
                Some(def) => {
                    let mut index = tessera_types::IndexDef::new(
                        name.clone(),
                        def,
                        columns.clone(),
                        vec![false; columns.len()],
                        true,
                    );
                    index.constraint = true;
                    self.create_index(&index, false, session).await.map(|_| ())
                }
                None => Err(Error::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("relation \"{table}\" was dropped while it was being created"),
                )),
            };
            if let Err(e) = created {
                if ddl_block(session).is_some() {
                    return Err(e);
                }
                let drop = ShardRequest::Drop {
                    kind: Relation::Table,
                    names: vec![RelationRef::of(schema, table)],
                    if_exists: true,
                    cascade: false,
                    path: vec![],
                };
                if let Err(d) = self.cluster.call(self.cluster.home_shard(), drop).await {
                    tracing::warn!("dropping \"{table}\" after a failed constraint: {d}");
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// CREATE INDEX, online: the index enters the catalog unusable, so every
    /// write from then on maintains it; each shard then indexes the rows it
    /// holds; last, the index becomes usable for snapshots taken after that.
    /// A build that fails (duplicate values for a unique index) drops it.
    async fn create_index(
        &self,
        index: &tessera_types::IndexDef,
        if_not_exists: bool,
        session: &mut SessionState,
    ) -> Result<Vec<crate::engine::Notice>> {
        let block = ddl_block(session);
        let create = ShardRequest::CreateIndex {
            index: index.clone(),
            if_not_exists,
        };
        let storage = match self.ddl(block, create).await? {
            ShardResponse::Index(storage) => storage,
            other => return expect_done(other),
        };
        let catalog = self.catalog_of(session);
        let global = catalog
            .indexes()
            .find(|i| i.storage.id == storage)
            .filter(|i| catalog.table_by_id(i.table).is_some_and(|t| i.is_global(t)))
            .cloned();
        let mut failure = match global {
            // Inside a block, the entries are the block's writes.
            Some(index) if block.is_some() => self
                .backfill_in_block(&index, &self.all_shards(&catalog), session)
                .await
                .err(),
            // Each shard's rows, a transaction per batch, with their entries
            // on the shards the values hash to.
            Some(index) => {
                let backfills = self
                    .all_shards(&catalog)
                    .into_iter()
                    .map(|s| self.backfill_global_index(&index, s))
                    .collect();
                join_all(backfills).await.into_iter().find_map(Result::err)
            }
            None => {
                if let Some(txn) = session.txn.as_mut().filter(|_| block.is_some()) {
                    // The entries are the block's writes there.
                    txn.participants.extend(self.all_shards(&catalog));
                }
                let builds = self
                    .all_shards(&catalog)
                    .into_iter()
                    .map(|s| {
                        self.cluster
                            .call(s, ShardRequest::BuildIndex { storage, block })
                    })
                    .collect();
                let failed = join_all(builds).await.into_iter().find_map(Result::err);
                // A unique index of a global table in a cluster: its
                // entries in the cluster's tables keep values unique
                // across the nodes' copies (`shard/globals.rs`).
                let claims = index.unique
                    && self.cluster.in_cluster()
                    && catalog.table_by_id(index.table).is_some_and(|t| t.global);
                match failed {
                    None if claims => self
                        .cluster
                        .call(
                            self.cluster.home_shard(),
                            ShardRequest::ClaimGlobalIndex { storage },
                        )
                        .await
                        .err(),
                    other => other,
                }
            }
        };
        if failure.is_none() {
            // A block's own reads do not use it (they would miss its
            // entries for committed rows, which are the block's writes);
            // its COMMIT makes it usable from the commit on.
            let valid_from = match block {
                Some(_) => Timestamp::MAX,
                None => self.cluster.tick(),
            };
            let valid = ShardRequest::IndexValid {
                storage,
                valid_from,
            };
            failure = self.ddl(block, valid).await.err();
        }
        if let Some(e) = failure {
            if block.is_some() {
                // The block failed: its end drops the index.
                return Err(e);
            }
            let drop = ShardRequest::Drop {
                kind: Relation::Index,
                names: vec![RelationRef::of(index.schema(), &index.name)],
                if_exists: true,
                cascade: false,
                path: vec![],
            };
            if let Err(d) = self.cluster.call(self.cluster.home_shard(), drop).await {
                tracing::warn!("dropping the failed index \"{}\": {d}", index.name);
            }
            return Err(e);
        }
        Ok(vec![])
    }

    /// Sends per-shard write requests: directly when one shard is involved,
    /// with two-phase commit when several are.
    /// REPEATABLE READ and SERIALIZABLE: the transaction's snapshot, taken
    /// at its first statement.
    fn txn_snapshot(&self, txn: &mut crate::engine::Txn) -> Option<Timestamp> {
        if !txn.isolation.has_snapshot() {
            return None;
        }
        Some(
            txn.snapshot
                .get_or_insert_with(|| self.cluster.begin_read())
                .1,
        )
    }

    /// Finds the row a global unique index maps the statement's values to:
    /// the entry on the shard the values hash to, then the row's own shard
    /// and key. `None` when no row has those values. Both reads are at `ts`,
    /// and an entry commits with its row, so they agree. `read` is how the
    /// statement reads: snapshot, transaction, whether reads are tracked.
    async fn through_global_index(
        &self,
        catalog: &Catalog,
        table: &TableDef,
        ix: &crate::plan::IndexScan,
        params: &crate::expr::Params,
        read: (Timestamp, Option<TxId>, bool),
    ) -> Result<Option<(ShardId, ShardId, Vec<u8>)>> {
        let (ts, txn, track_reads) = read;
        let Some(index) = ix.global(table) else {
            return Err(Error::internal("a read through a global index without one"));
        };
        let Some(entry_key) = eval_key(
            &index.storage,
            &index.storage.primary_key,
            &ix.equal,
            params,
        )?
        else {
            return Ok(None);
        };
        let entry_shard = self.shard_of_key(catalog, index.storage.tier, &entry_key);
        let get = self.routed(
            catalog,
            ShardRequest::Get {
                table: index.storage.id,
                key: entry_key,
                ts,
                txn,
                track_reads,
            },
        );
        let entry = match self.cluster.call(entry_shard, get).await? {
            ShardResponse::Rows(mut rows) => match rows.pop() {
                Some(entry) => entry,
                None => return Ok(None),
            },
            other => {
                return Err(Error::internal(format!(
                    "unexpected reply to a get: {other:?}"
                )))
            }
        };
        let (shard, key) = self.row_of_entry(catalog, table, index, &entry);
        Ok(Some((entry_shard, shard, key)))
    }

    /// The shard and key of the row a unique index's `entry` names (the
    /// entry holds the row's key after the index's values; the sharding
    /// key is part of the primary key).
    fn row_of_entry(
        &self,
        catalog: &Catalog,
        table: &TableDef,
        index: &tessera_types::IndexDef,
        entry: &[Value],
    ) -> (ShardId, Vec<u8>) {
        let row_key: Vec<usize> = index.row_key_columns().collect();
        let key = encode_key(entry, &row_key);
        let shard = if table.sharding_key.is_empty() || table.sharding_key == table.primary_key {
            self.shard_of_key(catalog, table.tier, &key)
        } else {
            let mut row = vec![Value::Null; table.columns.len()];
            for (c, v) in table.primary_key.iter().zip(&entry[index.columns.len()..]) {
                row[*c] = v.clone();
            }
            self.shard_of_key(catalog, table.tier, &encode_key(&row, &table.sharding_key))
        };
        (shard, key)
    }

    /// Sends per-shard write requests. Inside a transaction block they become
    /// the transaction's intents; otherwise one shard commits at once and
    /// several commit with two-phase commit.
    ///
    /// With `sequenced`, the shards draw sequence values: their records
    /// are made durable before the statement is acknowledged, and outside
    /// a block before it commits (so even one shard's write goes through
    /// two-phase commit, the records settled between prepare and decision).
    async fn write(
        &self,
        verb: &str,
        session: &mut SessionState,
        sequenced: bool,
        build: impl Fn(WriteMode) -> Result<Vec<(ShardId, ShardRequest)>>,
    ) -> Result<(u64, Vec<Row>)> {
        if let Some(txn) = session.txn.as_mut() {
            if txn.read_only {
                return Err(Error::new(
                    sqlstate::READ_ONLY_SQL_TRANSACTION,
                    format!("cannot execute {verb} in a read-only transaction"),
                ));
            }
            let snapshot = self.txn_snapshot(txn);
            let requests = build(WriteMode::Txn {
                id: txn.id,
                snapshot,
                savepoint: txn.current_savepoint(),
                track_reads: txn.tracks_reads(),
            })?;
            txn.participants.extend(requests.iter().map(|(s, _)| *s));
            let replies = join_all(
                requests
                    .into_iter()
                    .map(|(s, r)| self.cluster.call(s, r))
                    .collect(),
            )
            .await;
            let mut count = 0;
            let mut changes = Vec::new();
            let mut rows = Vec::new();
            for reply in replies {
                match reply? {
                    ShardResponse::Written(n, c, r) => {
                        count += n;
                        changes.extend(c);
                        rows.extend(r);
                    }
                    other => count += expect_count(other)?,
                }
            }
            if !changes.is_empty() {
                self.write_entries(txn, changes).await?;
            }
            if sequenced {
                self.settle_sequences(Some(&session.sequences)).await?;
            }
            return Ok((count, rows));
        }
        let mut built = Some(build(WriteMode::Autocommit)?);
        if !sequenced && built.as_ref().is_some_and(|r| r.len() <= 1) {
            let mut count = 0;
            let mut rows = Vec::new();
            for (shard, request) in built.into_iter().flatten() {
                let (n, r) = expect_written(self.cluster.call(shard, request).await?)?;
                count += n;
                rows.extend(r);
            }
            return Ok((count, rows));
        }
        let mut attempt = 0;
        loop {
            let tx = self.cluster.next_tx();
            // The first attempt reuses the requests built to count shards.
            let requests = match built.take() {
                Some(requests) => requests
                    .into_iter()
                    .map(|(s, r)| (s, r.with_mode(WriteMode::Prepare(tx))))
                    .collect(),
                None => build(WriteMode::Prepare(tx))?,
            };
            let drawn = sequenced.then_some(&*session.sequences);
            let (count, rows, failure) = self.two_phase(tx, requests, drawn).await;
            match failure {
                None => return Ok((count, rows)),
                Some(e) if is_retryable(&e) && attempt < WRITE_RETRIES_MAX => {
                    attempt += 1;
                    self.back_off(attempt).await;
                }
                Some(e) => return Err(e),
            }
        }
    }

    /// One batch of a global index's backfill on `shard` (see
    /// `ShardRequest::IndexBackfill`), as writes of transaction `id`: the
    /// entry changes to make and the last key read.
    async fn backfill_batch(
        &self,
        index: &Arc<tessera_types::IndexDef>,
        shard: ShardId,
        after: Option<Vec<u8>>,
        id: TxId,
        savepoint: u32,
    ) -> Result<(Vec<crate::shard::EntryChange>, Option<Vec<u8>>)> {
        const BACKFILL_ROWS: usize = 256;
        let request = ShardRequest::IndexBackfill {
            index: index.clone(),
            after,
            limit: BACKFILL_ROWS,
            mode: WriteMode::Txn {
                id,
                snapshot: None,
                savepoint,
                track_reads: false,
            },
        };
        match self.cluster.call(shard, request).await? {
            ShardResponse::Backfilled(changes, last) => Ok((changes, last)),
            other => Err(Error::internal(format!(
                "unexpected reply to a backfill: {other:?}"
            ))),
        }
    }

    /// CREATE INDEX of a global index inside a block: the entries of
    /// every shard's rows become the block's writes (the router holds every
    /// other write to the table first, see `begin_ddl`).
    async fn backfill_in_block(
        &self,
        index: &Arc<tessera_types::IndexDef>,
        shards: &[ShardId],
        session: &mut SessionState,
    ) -> Result<()> {
        let Some(txn) = session.txn.as_mut() else {
            return Err(Error::internal("a block's backfill outside a block"));
        };
        for &shard in shards {
            let mut after: Option<Vec<u8>> = None;
            loop {
                txn.participants.insert(shard);
                let savepoint = txn.current_savepoint();
                let (changes, last) = self
                    .backfill_batch(index, shard, after.clone(), txn.id, savepoint)
                    .await?;
                if !changes.is_empty() {
                    self.write_entries(txn, changes).await?;
                }
                match last {
                    Some(last) => after = Some(last),
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Adds the entries of shard `shard`'s rows to global index `index`, in
    /// transactions of `BACKFILL_ROWS` rows each: every batch locks its
    /// rows (`IndexBackfill`) and adds their entries where they belong,
    /// then commits both. A batch that meets a conflict runs again.
    async fn backfill_global_index(
        &self,
        index: &Arc<tessera_types::IndexDef>,
        shard: ShardId,
    ) -> Result<()> {
        let mut after: Option<Vec<u8>> = None;
        let mut attempt = 0;
        loop {
            let mut txn = Txn {
                id: self.cluster.next_tx(),
                isolation: Isolation::ReadCommitted,
                read_only: false,
                snapshot: None,
                participants: [shard].into(),
                reads: Default::default(),
                failed: false,
                rolled_back: false,
                savepoints: vec![],
                savepoint_seq: 0,
                start: self.cluster.wall_clock(),
                deps: Vec::new(),
                restarted: Vec::new(),
                ddl: false,
                locked: Default::default(),
                table_locks: Vec::new(),
                implicit: true,
                globals: None,
            };
            let batch = async {
                let (changes, last) = self
                    .backfill_batch(index, shard, after.clone(), txn.id, 0)
                    .await?;
                if !changes.is_empty() {
                    self.write_entries(&mut txn, changes).await?;
                }
                Ok(last)
            }
            .await;
            let result = match batch {
                Ok(last) => self.commit_participants(&txn).await.map(|()| last),
                Err(e) => {
                    self.abort(txn).await;
                    Err(e)
                }
            };
            match result {
                Ok(None) => return Ok(()),
                Ok(Some(last)) => {
                    after = Some(last);
                    attempt = 0;
                }
                Err(e) if is_retryable(&e) && attempt < WRITE_RETRIES_MAX => {
                    attempt += 1;
                    self.back_off(attempt).await;
                }
                Err(e) if e.code == sqlstate::UNIQUE_VIOLATION => {
                    return Err(Error::new(
                        sqlstate::UNIQUE_VIOLATION,
                        format!("could not create unique index \"{}\"", index.name),
                    )
                    .with_detail(
                        e.detail
                            .map(|d| d.replace("already exists", "is duplicated"))
                            .unwrap_or_default(),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes a statement's changes to global unique indexes, whose entries
    /// live on the shards their values hash to, as intents of the same
    /// transaction: per shard and index, deletes before puts.
    async fn write_entries(
        &self,
        txn: &mut Txn,
        changes: Vec<crate::shard::EntryChange>,
    ) -> Result<()> {
        type Batch = (Vec<Vec<u8>>, Vec<(Vec<u8>, Row)>);
        let catalog = self.catalog_in(Some(txn));
        let mut batches: HashMap<
            (ShardId, tessera_types::TableId),
            (Arc<tessera_types::IndexDef>, Batch),
        > = HashMap::new();
        for change in changes {
            let id = change.index.storage.id;
            if let Some((key, _)) = change.old {
                let shard = self.shard_of_key(&catalog, change.index.storage.tier, &key);
                batches
                    .entry((shard, id))
                    .or_insert_with(|| (change.index.clone(), Default::default()))
                    .1
                     .0
                    .push(key);
            }
            if let Some(entry) = change.new {
                let shard = self.shard_of_key(&catalog, change.index.storage.tier, &entry.0);
                batches
                    .entry((shard, id))
                    .or_insert_with(|| (change.index.clone(), Default::default()))
                    .1
                     .1
                    .push(entry);
            }
        }
        let mode = WriteMode::Txn {
            id: txn.id,
            snapshot: self.txn_snapshot(txn),
            savepoint: txn.current_savepoint(),
            track_reads: txn.tracks_reads(),
        };
        txn.participants.extend(batches.keys().map(|(s, _)| *s));
        let calls = batches
            .into_iter()
            .map(|((shard, _), (index, (deletes, puts)))| {
                self.cluster.call(
                    shard,
                    self.routed(
                        &catalog,
                        ShardRequest::IndexEntries {
                            index,
                            deletes,
                            puts,
                            mode,
                        },
                    ),
                )
            })
            .collect();
        for reply in join_all(calls).await {
            reply?;
        }
        Ok(())
    }

    /// Two-phase commit of `tx` over the shards `prepares` go to. The
    /// decision is written on the router's own shard if it takes part,
    /// else on the first participant's (docs/CLUSTER.md §4): so it is on
    /// the participants' node, whose recovery finds it. With the router on
    /// that node, it is written in parallel with the prepares (parallel
    /// commit): a commit decision holds only if every participant it names
    /// prepared durably, which recovery checks, so the client waits for one
    /// fsync round, not two. From another node it is written once every
    /// prepare is acknowledged, so that a participant whose router went
    /// silent can settle its prepare from the decision alone (see
    /// `ShardRequest::Fence`). Returns the prepared row count and the first
    /// error.
    async fn two_phase(
        &self,
        tx: TxId,
        prepares: Vec<(ShardId, ShardRequest)>,
        drawn: Option<&SessionSequences>,
    ) -> (u64, Vec<Row>, Option<Error>) {
        let settle_first = drawn.is_some();
        let shards: Vec<ShardId> = prepares.iter().map(|(s, _)| *s).collect();
        let local = self.cluster.local_shard();
        // Participants on other nodes: the router's own shard decides,
        // once every participant prepared, and keeps the decision until
        // they report (`shard/cross_node.rs`). Otherwise a participant
        // decides (the router's shard if it takes part), in parallel with
        // the prepares.
        let cross_node = shards.iter().any(|s| !self.cluster.is_local(*s));
        let decider = match shards.first() {
            Some(first) if !cross_node && !shards.contains(&local) => *first,
            _ => local,
        };
        let prepared = join_all(
            prepares
                .into_iter()
                .map(|(s, r)| self.cluster.call(s, r))
                .collect(),
        );
        let decide = |ts| ShardRequest::Decide {
            tx,
            commit: true,
            ts,
            participants: shards.clone(),
        };
        // Versions of a committed transaction carry one timestamp on every
        // shard, taken after every participant prepared.
        let mut commit_ts = None;
        let (replies, decided) = if settle_first || cross_node {
            // The prepares drew sequence values, whose records are durable
            // before the decision is; or some participant is on another
            // node, and the decision must hold on its own.
            let replies = prepared.await;
            let decided = if replies.iter().any(Result::is_err) {
                // Aborted anyway.
                Ok(ShardResponse::Done(vec![]))
            } else {
                match self.settle_sequences(drawn).await {
                    Ok(()) => {
                        let ts = self.cluster.tick();
                        commit_ts = Some(ts);
                        self.cluster.call(decider, decide(ts)).await
                    }
                    Err(e) => Err(e),
                }
            };
            (replies, decided)
        } else {
            join2(prepared, self.cluster.call(decider, decide(0))).await
        };
        let mut count = 0;
        let mut rows = Vec::new();
        let mut failure = None;
        for reply in replies {
            match reply.and_then(expect_written) {
                Ok((n, r)) => {
                    count += n;
                    rows.extend(r);
                }
                Err(e) => {
                    if failure.as_ref().is_none_or(is_retryable) {
                        failure = Some(e);
                    }
                }
            }
        }
        if let Err(e) = decided {
            failure.get_or_insert(e);
        }
        let commit = failure.is_none();
        let ts = match commit {
            true => commit_ts.unwrap_or_else(|| self.cluster.tick()),
            false => 0,
        };
        if !commit {
            // A commit decision may already be durable: an abort after it
            // wins, so a prepare whose bytes reached the disk despite its
            // error is never committed by recovery.
            let abort = ShardRequest::Decide {
                tx,
                commit: false,
                ts: 0,
                participants: shards.clone(),
            };
            if let Err(e) = self.cluster.call(decider, abort).await {
                tracing::warn!("could not record the abort of transaction {tx}: {e}");
            }
        }
        // The outcome is durable: nothing waits for the other shards to
        // apply it. Their `Resolve` is queued ahead of anything this router
        // sends them next, and any other reader whose snapshot follows the
        // commit waits for it there (read-wait on prepared writes), so no
        // one can miss the commit; the client is answered one hop sooner.
        // The router's own shard applies it before the answer.
        for s in shards.iter().filter(|s| **s != local) {
            if let Err(e) = self
                .cluster
                .post(*s, ShardRequest::Resolve { tx, commit, ts })
                .await
            {
                failure.get_or_insert(e);
            }
        }
        if shards.contains(&local) {
            if let Err(e) = self
                .cluster
                .call(local, ShardRequest::Resolve { tx, commit, ts })
                .await
            {
                failure.get_or_insert(e);
            }
        }
        (count, rows, failure)
    }

    async fn back_off(&self, attempt: u32) {
        self.sleep_up_to(50, 100 * attempt.min(20) as u64).await;
    }

    /// Sleeps `least` microseconds and a random part of `spread` more.
    async fn sleep_up_to(&self, least: u64, spread: u64) {
        // xorshift: a little randomness so two retrying statements drift apart.
        let mut x = self.retry_seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.retry_seed.set(x);
        let micros = least + x % spread.max(1);
        tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
    }

    /// The rows of an INSERT, keyed and grouped by shard: each of
    /// `inputs` (`None` for VALUES; a query's row for INSERT … SELECT, a
    /// client's row for COPY) run through each row of expressions.
    /// `arbiters` are ON CONFLICT's unique indexes (see `router/upsert.rs`).
    fn insert_requests(
        &self,
        plan: &InsertPlan,
        inputs: Option<&Rows>,
        params: &Params,
        arbiters: &[Arc<tessera_types::IndexDef>],
    ) -> Result<InsertRows> {
        let catalog = self.cluster.catalog();
        let table = &plan.table;
        let mut per_shard: HashMap<ShardId, KeyedRows> = HashMap::new();
        // Which input each row came from (see `Error::row`).
        let mut inputs_of: HashMap<ShardId, Vec<usize>> = HashMap::new();
        let mut returned = Vec::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        // A unique index's key proposed twice: the second row is refused
        // here, naming it (the shards would refuse one of the two). Rows
        // with a NULL in the key never conflict.
        let mut unique: Vec<(&tessera_types::IndexDef, HashSet<Vec<u8>>)> =
            if plan.on_conflict.is_none() {
                catalog
                    .indexes_of(table.id)
                    .filter(|ix| ix.unique)
                    .map(|ix| (&**ix, HashSet::new()))
                    .collect()
            } else {
                Vec::new()
            };
        // ON CONFLICT's unique indexes: their columns and the values taken.
        let mut arbiters: Vec<(Vec<usize>, HashSet<Vec<u8>>)> = arbiters
            .iter()
            .map(|ix| (ix.columns.clone(), HashSet::new()))
            .collect();
        let values_input = Rows::one(Vec::new());
        let inputs = inputs.unwrap_or(&values_input);
        for (n, input, exprs) in inputs
            .iter()
            .enumerate()
            .flat_map(|(n, i)| plan.rows.iter().map(move |r| (n, i, r)))
        {
            let row = Self::checked_row(plan, exprs, input, params).map_err(|e| e.with_row(n))?;
            let key = if table.has_row_id() {
                self.local_row_id(&catalog, table.tier)
            } else {
                encode_key(&row, &table.primary_key)
            };
            // A key or arbiter's values proposed twice: the first proposal
            // takes them, later ones conflict with it.
            let key_taken = seen.contains(&key);
            let arbiter_values: Vec<Option<Vec<u8>>> = arbiters
                .iter()
                .map(|(columns, _)| {
                    let null = columns.iter().any(|c| row[*c].is_null());
                    (!null).then(|| encode_key(&row, columns))
                })
                .collect();
            let arbiter_taken = arbiters
                .iter()
                .zip(&arbiter_values)
                .any(|((_, taken), v)| v.as_ref().is_some_and(|v| taken.contains(v)));
            if key_taken && !(plan.arbiters.primary_key || arbiter_taken) {
                return Err(crate::shard::duplicate_key(table, &row).with_row(n));
            }
            if key_taken || arbiter_taken {
                match plan.on_conflict.as_deref() {
                    Some(OnConflict::Nothing) => continue,
                    Some(OnConflict::Update { .. }) => {
                        return Err(Error::new(
                            sqlstate::CARDINALITY_VIOLATION,
                            "ON CONFLICT DO UPDATE command cannot affect row a second time",
                        )
                        .with_hint("Ensure that no rows proposed for insertion within the same command have duplicate constrained values."))
                    }
                    None => return Err(crate::shard::duplicate_key(table, &row).with_row(n)),
                }
            }
            seen.insert(key.clone());
            for ((_, taken), v) in arbiters.iter_mut().zip(arbiter_values) {
                taken.extend(v);
            }
            for (index, keys) in &mut unique {
                if index.columns.iter().any(|c| row[*c].is_null()) {
                    continue;
                }
                if !keys.insert(encode_key(&row, &index.columns)) {
                    let values: Vec<Value> =
                        index.columns.iter().map(|c| row[*c].clone()).collect();
                    return Err(
                        crate::shard::unique_violation(index, table, &values, false).with_row(n)
                    );
                }
            }
            if !plan.returning.is_empty() && plan.on_conflict.is_none() {
                let mut out = Vec::with_capacity(plan.returning.len());
                for e in &plan.returning {
                    out.push(e.eval(&row, params)?);
                }
                returned.push(out);
            }
            // The storage key doubles as the sharding key when they are the same columns.
            let shard = if table.sharding_key.is_empty() || table.sharding_key == table.primary_key
            {
                self.shard_of_row(&catalog, table, &key)
            } else {
                self.shard_of_row(&catalog, table, &encode_key(&row, &table.sharding_key))
            };
            per_shard.entry(shard).or_default().push((key, row));
            inputs_of.entry(shard).or_default().push(n);
        }
        Ok(InsertRows {
            per_shard,
            returned,
            inputs_of,
            catalog,
        })
    }

    /// One row of an INSERT (`exprs` over `input`), its NOT NULL columns
    /// and CHECK constraints checked.
    fn checked_row(
        plan: &InsertPlan,
        exprs: &[crate::expr::Expr],
        input: &[Value],
        params: &Params,
    ) -> Result<Row> {
        let table = &plan.table;
        let mut row = Vec::with_capacity(exprs.len());
        for e in exprs {
            row.push(e.eval(input, params)?);
        }
        for (i, c) in table.columns.iter().enumerate() {
            if c.not_null && row[i].is_null() {
                return Err(not_null_violation(table, i, &row));
            }
        }
        check_constraints(table, &plan.checks, &row, params)?;
        Ok(row)
    }

    /// A new hidden row id whose bucket this router's shard owns: rows of a
    /// table without a primary key may live anywhere, so they stay where
    /// they are inserted, and an INSERT into such a table needs no hop and
    /// no two-phase commit. (Gives up after a few tries: any shard is
    /// correct.)
    fn local_row_id(&self, catalog: &Catalog, tier: u16) -> Vec<u8> {
        let local = self.cluster.local_shard();
        let mut key = encode_row_id(self.cluster.next_row_id());
        for _ in 0..64 {
            if self.shard_of_key(catalog, tier, &key) == local {
                break;
            }
            key = encode_row_id(self.cluster.next_row_id());
        }
        key
    }

    /// Inserts the rows of `insert` (its plan is `plan`): each of `inputs`
    /// through its expressions (see [`Router::insert_requests`]). Returns
    /// the count and the RETURNING rows.
    async fn insert(
        &self,
        plan: &Plan,
        insert: &InsertPlan,
        inputs: Option<&Rows>,
        params: Arc<Params>,
        sequenced: bool,
        session: &mut SessionState,
    ) -> Result<(u64, Vec<Row>)> {
        let arbiters = self.arbiter_indexes(insert, &self.catalog_of(session))?;
        let InsertRows {
            per_shard,
            returned,
            inputs_of,
            catalog,
        } = self.insert_requests(insert, inputs, &params, &arbiters)?;
        // A row a shard refused as a duplicate: which input it came from.
        let about_row = |e: Error| {
            if e.row().is_some() || e.code != sqlstate::UNIQUE_VIOLATION {
                return e;
            }
            let found = per_shard.iter().find_map(|(shard, rows)| {
                let at = rows.iter().position(|(_, row)| {
                    key_detail_names(&insert.table, row, e.detail.as_deref())
                })?;
                inputs_of.get(shard)?.get(at).copied()
            });
            match found {
                Some(n) => e.with_row(n),
                None => e,
            }
        };
        // Values the router drew are durable before any row holds them.
        if sequenced {
            self.settle_sequences(Some(&session.sequences)).await?;
        }
        let shards_draw = sequenced && insert.on_conflict.is_some();
        let fk = self.foreign_key_work(plan, &self.catalog_of(session))?;
        let inserted: Vec<Row> = match &fk {
            Some(_) => per_shard
                .values()
                .flat_map(|rows| rows.iter().map(|(_, r)| r.clone()))
                .collect(),
            None => vec![],
        };
        // ON CONFLICT: the shards decide each row, and return them.
        let upsert = insert.on_conflict.as_ref().map(|action| {
            Arc::new(crate::shard::Upsert {
                action: action.clone(),
                params: params.clone(),
                returning: insert.returning.clone(),
                checks: insert.checks.clone(),
                primary_key: insert.arbiters.primary_key,
                found: HashMap::new(),
            })
        });
        let through_indexes = match &upsert {
            Some(upsert) if !insert.arbiters.indexes.is_empty() => Some(upsert),
            _ => None,
        };
        let (count, upserted) = match through_indexes {
            Some(upsert) => {
                self.upsert(
                    insert,
                    (&per_shard, &catalog),
                    &arbiters,
                    upsert,
                    shards_draw,
                    session,
                )
                .await
            }
            None => {
                self.write("INSERT", session, shards_draw, |mode| {
                    Ok(per_shard
                        .iter()
                        .map(|(s, rows)| {
                            (
                                *s,
                                self.routed(
                                    &catalog,
                                    ShardRequest::Insert {
                                        table: insert.table.clone(),
                                        rows: rows.clone(),
                                        mode,
                                        upsert: upsert.clone(),
                                    },
                                ),
                            )
                        })
                        .collect())
                })
                .await
            }
        }
        .map_err(about_row)?;
        // A missing parent is found at the statement's end, as
        // PostgreSQL's trigger finds it: about no row in particular.
        if let Some(fk) = fk {
            self.check_parents(&insert.table, &fk.child, &inserted, session)
                .await?;
        }
        Ok((count, if upsert.is_some() { upserted } else { returned }))
    }

    /// INSERT, UPDATE or DELETE `plan`: a statement's, or a
    /// data-modifying WITH query's (an init plan).
    async fn run_write(
        &self,
        plan: &Arc<Plan>,
        params: Arc<Params>,
        sequenced: bool,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        match &**plan {
            Plan::Insert(insert) => {
                let inputs = match &insert.select {
                    Some(query) => {
                        let Plan::Select(select) = &**query else {
                            return Err(Error::internal("INSERT from a non-SELECT plan"));
                        };
                        Some(
                            self.select(query, select, &[], params.clone(), session)
                                .await?,
                        )
                    }
                    None => None,
                };
                let (count, rows) = self
                    .insert(plan, insert, inputs.as_ref(), params, sequenced, session)
                    .await?;
                Ok(QueryResult {
                    columns: None,
                    rows: Rows::from_vecs(rows),
                    tag: format!("INSERT 0 {count}"),
                    notices: vec![],
                    binary_rows: false,
                })
            }
            Plan::Update(UpdatePlan {
                table,
                target,
                index,
                ..
            })
            | Plan::Delete(DeletePlan {
                table,
                target,
                index,
                ..
            }) => {
                let verb = if matches!(**plan, Plan::Update(_)) {
                    "UPDATE"
                } else {
                    "DELETE"
                };
                // Rows that change their key come back whole, to be placed.
                let moving = match &**plan {
                    Plan::Update(u) if u.moves => Some(u),
                    _ => None,
                };
                // Foreign keys see each written row: it is returned first.
                let fk = match moving {
                    Some(_) => None,
                    None => self.foreign_key_work(plan, &self.catalog_of(session))?,
                };
                let user_returns = match &**plan {
                    Plan::Update(u) => !u.returning.is_empty(),
                    Plan::Delete(d) => !d.returning.is_empty(),
                    _ => false,
                };
                let imaged;
                let plan = match fk {
                    Some(_) => {
                        imaged = foreign::with_row_images(plan);
                        &imaged
                    }
                    None => plan,
                };
                let catalog = self.catalog_of(session);
                // Through a global index: the one row its values name.
                let through = match index {
                    Some(ix) if ix.global(table).is_some_and(|i| i.is_valid()) => {
                        let txn = session.txn.as_mut();
                        let tracks = txn.as_ref().is_some_and(|t| t.tracks_reads());
                        let (id, snapshot) = match txn {
                            Some(t) => (Some(t.id), self.txn_snapshot(t)),
                            None => (None, None),
                        };
                        // A snapshot of its own only outside REPEATABLE READ
                        // and SERIALIZABLE blocks.
                        let statement = snapshot.is_none().then(|| Snapshot::begin(&self.cluster));
                        let ts = snapshot.unwrap_or_else(|| statement.as_ref().map_or(0, |s| s.ts));
                        if snapshot.is_none()
                            || ix.global(table).is_some_and(|i| i.valid_from <= ts)
                        {
                            let found = self
                                .through_global_index(
                                    &catalog,
                                    table,
                                    ix,
                                    &params,
                                    (ts, id, tracks),
                                )
                                .await?;
                            if let (Some((entry_shard, _, _)), Some(t)) =
                                (&found, session.txn.as_mut())
                            {
                                if tracks {
                                    t.reads.insert(*entry_shard);
                                }
                            }
                            Some(found)
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                let (count, mut returned) = match through {
                    Some(None) => (0, vec![]),
                    Some(Some((_, shard, key))) => {
                        self.modify(
                            verb,
                            plan,
                            (&catalog, &[shard]),
                            Some(key),
                            &params,
                            session,
                        )
                        .await?
                    }
                    None => {
                        let shards = self.targets(&catalog, table, target, &params)?;
                        self.modify(verb, plan, (&catalog, &shards), None, &params, session)
                            .await?
                    }
                };
                if let Some(u) = moving {
                    let rows = self.place_moved(u, returned, session).await?;
                    return Ok(QueryResult {
                        columns: None,
                        rows: Rows::from_vecs(rows),
                        tag: format!("UPDATE {count}"),
                        notices: vec![],
                        binary_rows: false,
                    });
                }
                if let Some(fk) = fk {
                    let width = table.columns.len();
                    let images: Vec<Row> = returned
                        .iter_mut()
                        .map(|r| {
                            let rest = r.split_off(width.min(r.len()));
                            std::mem::replace(r, rest)
                        })
                        .collect();
                    if !user_returns {
                        returned.clear();
                    }
                    if fk.parent {
                        Box::pin(self.parent_rows_deleted(table, &images, session)).await?;
                    }
                    if !fk.child.is_empty() {
                        self.check_parents(table, &fk.child, &images, session)
                            .await?;
                    }
                }
                Ok(QueryResult {
                    columns: None,
                    rows: Rows::from_vecs(returned),
                    tag: format!("{verb} {count}"),
                    notices: vec![],
                    binary_rows: false,
                })
            }
            _ => Err(Error::internal("run_write of a plan that does not write")),
        }
    }

    async fn execute_plan(
        &self,
        statement: &Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        // A constant it reaches failed to fold: it fails now, as in
        // PostgreSQL, whose planner folds constants.
        if let Some(e) = &statement.constant_error {
            return Err(e.clone());
        }
        if self.cluster.in_cluster() {
            let in_block = session.txn.as_ref().is_some_and(|t| !t.implicit);
            self.refuse_global_ddl(&statement.plan, &self.catalog_of(session), in_block)?;
        }
        // Only a write, or a statement calling sequence functions, asks
        // (a plain read pays nothing).
        // A query with a data-modifying WITH query is refused as a SELECT,
        // as PostgreSQL names it.
        let writes = writing_verb(&statement.plan)
            .or_else(|| init_writing_verb(&statement.init).map(|_| "SELECT"));
        if writes.is_some() || statement.uses_sequences {
            let read_only = match &session.txn {
                Some(t) => t.read_only,
                None => session
                    .settings
                    .get("default_transaction_read_only")
                    .is_some_and(|v| v == "on"),
            };
            if let (true, Some(verb)) = (read_only, writes) {
                return Err(Error::new(
                    sqlstate::READ_ONLY_SQL_TRANSACTION,
                    format!("cannot execute {verb} in a read-only transaction"),
                ));
            }
            session.sequences.set_read_only(read_only);
        }
        // The statement's clock and zone, fixed here for every shard.
        let time = session.time_context(self.cluster.wall_clock());
        let mut params = Params::new(params, time);
        let sequenced = statement.uses_sequences;
        if sequenced {
            session.sequences.begin_statement();
            params.sequences = Some(session.sequences.clone());
        }
        params.settings = session.statement_settings.clone();
        let mut params = Arc::new(params);
        let plan = &statement.plan;
        if !statement.init.is_empty()
            && !matches!(**plan, Plan::Select(_) | Plan::DeclareCursor { .. })
        {
            // Subqueries of a write: their rows are read before it, at a snapshot.
            let (snapshot, read) = self.read_point(session);
            let ran = self.run_init(&statement.init, params, session, read).await;
            drop(snapshot);
            params = ran?;
        }
        match &**plan {
            Plan::Explain {
                plan: inner,
                init,
                analyze,
            } => {
                let catalog = self.catalog_of(session);
                let lines = match (&**inner, analyze) {
                    (Plan::Select(select), true) => {
                        let started = std::time::Instant::now();
                        let profile = std::cell::RefCell::new(crate::explain::Profile::default());
                        let (rows, profile) = crate::explain::PROFILE
                            .scope(profile, async {
                                let rows =
                                    self.top_select(inner, select, init, params, session).await;
                                let profile = crate::explain::PROFILE.with(|p| p.take());
                                (rows, profile)
                            })
                            .await;
                        let rows = rows?;
                        if sequenced {
                            self.settle_sequences(Some(&session.sequences)).await?;
                        }
                        let mut lines =
                            crate::explain::render(inner, init, &catalog, Some(&profile));
                        lines.push(format!(
                            "Execution Time: {:.3} ms ({} rows)",
                            started.elapsed().as_secs_f64() * 1000.0,
                            rows.len()
                        ));
                        lines
                    }
                    _ => crate::explain::render(inner, init, &catalog, None),
                };
                Ok(QueryResult {
                    columns: None,
                    rows: lines.into_iter().map(|l| vec![Value::Text(l)]).collect(),
                    tag: "EXPLAIN".into(),
                    notices: vec![],
                    binary_rows: false,
                })
            }
            Plan::Select(select) => {
                let rows = self
                    .top_select(plan, select, &statement.init, params, session)
                    .await?;
                if sequenced {
                    self.settle_sequences(Some(&session.sequences)).await?;
                }
                Ok(QueryResult {
                    columns: None,
                    rows,
                    tag: "SELECT".into(),
                    notices: vec![],
                    binary_rows: false,
                })
            }
            Plan::Insert(_) | Plan::Update(_) | Plan::Delete(_) => {
                self.run_write(plan, params, sequenced, session).await
            }
            Plan::CreateTable {
                table,
                unique,
                sequences,
                if_not_exists,
            } => {
                let create = ShardRequest::CreateTable {
                    table: table.clone(),
                    sequences: sequences.clone(),
                    if_not_exists: *if_not_exists,
                };
                let notices = self.session_ddl(session, create).await?;
                if notices.is_empty() && !unique.is_empty() {
                    // Rare and large futures are boxed here and below, so
                    // that every statement's future does not carry their size.
                    let unique =
                        self.create_unique_constraints(table.schema, &table.name, unique, session);
                    Box::pin(unique).await?;
                }
                Ok(QueryResult::command("CREATE TABLE", notices))
            }
            Plan::CreateSequence {
                sequence,
                if_not_exists,
            } => {
                let create = ShardRequest::CreateSequence {
                    sequence: sequence.clone(),
                    if_not_exists: *if_not_exists,
                };
                let notices = self.session_ddl(session, create).await?;
                Ok(QueryResult::command("CREATE SEQUENCE", notices))
            }
            Plan::Skipped { tag, notice } => Ok(QueryResult::command(
                tag,
                notice
                    .iter()
                    .map(|n| Notice::new(sqlstate::SUCCESSFUL_COMPLETION, n.as_str()))
                    .collect(),
            )),
            Plan::AlterSequence {
                sequence,
                changed,
                restart,
                notices,
            } => {
                if let (Some(s), true) = (sequence, changed) {
                    let alter = ShardRequest::AlterSequence {
                        sequence: (**s).clone(),
                    };
                    self.session_ddl(session, alter).await?;
                    s.state.recount();
                }
                if let (Some(s), Some(v)) = (sequence, restart) {
                    s.set(*v, false)?;
                    self.settle_sequences(None).await?;
                }
                Ok(QueryResult::command(
                    "ALTER SEQUENCE",
                    notices
                        .iter()
                        .map(|m| Notice::new(sqlstate::SUCCESSFUL_COMPLETION, m.as_str()))
                        .collect(),
                ))
            }
            Plan::CreateView { view, or_replace } => {
                let create = ShardRequest::CreateView {
                    view: view.clone(),
                    or_replace: *or_replace,
                };
                let notices = self.session_ddl(session, create).await?;
                Ok(QueryResult::command("CREATE VIEW", notices))
            }
            Plan::Drop {
                kind,
                names,
                if_exists,
                cascade,
                notices,
                path,
            } => {
                let tag = match kind {
                    Relation::Table => "DROP TABLE",
                    Relation::Index => "DROP INDEX",
                    Relation::Sequence => "DROP SEQUENCE",
                    Relation::View => "DROP VIEW",
                };
                let drop = ShardRequest::Drop {
                    kind: *kind,
                    names: names.clone(),
                    if_exists: *if_exists,
                    cascade: *cascade,
                    path: path.clone(),
                };
                let mut all = notices.clone();
                all.extend(self.session_ddl(session, drop).await?);
                Ok(QueryResult::command(tag, all))
            }
            Plan::CreateSchema {
                schema,
                if_not_exists,
            } => {
                let create = ShardRequest::CreateSchema {
                    schema: schema.clone(),
                    if_not_exists: *if_not_exists,
                };
                let notices = self.session_ddl(session, create).await?;
                Ok(QueryResult::command("CREATE SCHEMA", notices))
            }
            Plan::DropSchemas {
                names,
                cascade,
                notices,
                path,
            } => {
                let mut all = notices.clone();
                if !names.is_empty() {
                    let drop = ShardRequest::DropSchemas {
                        names: names.clone(),
                        cascade: *cascade,
                        path: path.clone(),
                    };
                    all.extend(self.session_ddl(session, drop).await?);
                }
                Ok(QueryResult::command("DROP SCHEMA", all))
            }
            Plan::Role(statement) => {
                let mut notices = Vec::new();
                let statement = hash_passwords(statement, session, &mut notices)?;
                let actor = if session.user.is_empty() {
                    session.names().user
                } else {
                    session.user.clone()
                };
                let tag = statement.tag();
                let change = ShardRequest::Roles { statement, actor };
                notices.extend(self.session_ddl(session, change).await?);
                Ok(QueryResult::command(tag, notices))
            }
            Plan::Type(statement) => {
                let tag = statement.tag();
                let mut notices = match statement {
                    TypeStatement::Drop { notices, .. } => notices
                        .iter()
                        .map(|n| Notice::new(sqlstate::SUCCESSFUL_COMPLETION, n.clone()))
                        .collect(),
                    _ => vec![],
                };
                let change = ShardRequest::Types(statement.clone());
                notices.extend(self.session_ddl(session, change).await?);
                Ok(QueryResult::command(tag, notices))
            }
            Plan::RenameIndex {
                storage,
                name,
                of_table,
            } => {
                let rename = ShardRequest::RenameIndex {
                    storage: *storage,
                    name: name.clone(),
                };
                self.session_ddl(session, rename).await?;
                let tag = if *of_table {
                    "ALTER TABLE"
                } else {
                    "ALTER INDEX"
                };
                Ok(QueryResult::command(tag, vec![]))
            }
            Plan::RenameSchema { schema, name } => {
                let rename = ShardRequest::RenameSchema {
                    schema: *schema,
                    name: name.clone(),
                };
                self.session_ddl(session, rename).await?;
                Ok(QueryResult::command("ALTER SCHEMA", vec![]))
            }
            Plan::CreateTableAs {
                table,
                query,
                if_not_exists,
            } => {
                Box::pin(self.create_table_as(table, query.as_deref(), *if_not_exists, session))
                    .await
            }
            Plan::AlterTable(change) => {
                let cascaded = Box::pin(self.alter_table(change, &params, session)).await?;
                let mut notices: Vec<Notice> = change
                    .notices
                    .iter()
                    .map(|m| Notice::new(sqlstate::UNDEFINED_OBJECT, m.as_str()))
                    .collect();
                notices.extend(cascaded);
                Ok(QueryResult::command("ALTER TABLE", notices))
            }
            Plan::RewriteTable {
                table,
                new,
                key,
                then_drop,
            } => {
                Box::pin(self.rewrite_table(table, new, key, &params, session)).await?;
                if let Some(column) = then_drop {
                    let catalog = self.catalog_of(session);
                    let quote = crate::binder::quote_name;
                    let sql = format!(
                        "ALTER TABLE {}.{} DROP COLUMN {}",
                        quote(catalog.schema_name(table.schema)),
                        quote(&table.name),
                        quote(column)
                    );
                    Box::pin(self.run_internal(&sql, vec![], session)).await?;
                }
                Ok(QueryResult::command("ALTER TABLE", vec![]))
            }
            Plan::Vacuum { analyze } => {
                self.on_every_shard(|| ShardRequest::Vacuum).await?;
                if *analyze {
                    self.on_every_shard(|| ShardRequest::Analyze).await?;
                }
                Ok(QueryResult::command("VACUUM", vec![]))
            }
            Plan::Analyze => {
                self.on_every_shard(|| ShardRequest::Analyze).await?;
                Ok(QueryResult::command("ANALYZE", vec![]))
            }
            Plan::Checkpoint => {
                self.on_every_shard(|| ShardRequest::Checkpoint).await?;
                Ok(QueryResult::command("CHECKPOINT", vec![]))
            }
            Plan::LockShared => {
                if session.txn.is_none() {
                    return Err(Error::new(
                        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                        "LOCK TABLE can only be used in transaction blocks",
                    ));
                }
                Ok(QueryResult::command("LOCK TABLE", vec![]))
            }
            Plan::Comment {
                object,
                column,
                text,
            } => {
                let comment = ShardRequest::Comment {
                    object: *object,
                    column: *column,
                    text: text.clone(),
                };
                self.session_ddl(session, comment).await?;
                Ok(QueryResult::command("COMMENT", vec![]))
            }
            Plan::Truncate {
                deletes,
                restart,
                notices,
            } => {
                let catalog = self.catalog_of(session);
                for delete in deletes {
                    let shards = match &**delete {
                        Plan::Delete(d) => self.table_shards(&catalog, &d.table),
                        _ => self.all_shards(&catalog),
                    };
                    self.modify(
                        "TRUNCATE",
                        delete,
                        (&catalog, &shards),
                        None,
                        &params,
                        session,
                    )
                    .await?;
                }
                for s in restart {
                    let before = s.state.current();
                    s.set(s.start, false)?;
                    // Always in a block (`needs_transaction`): a rollback
                    // restores it, as in PostgreSQL.
                    if let Some(txn) = session.txn.as_mut() {
                        txn.restarted.push((s.clone(), before));
                    }
                }
                if !restart.is_empty() {
                    self.settle_sequences(None).await?;
                }
                Ok(QueryResult::command("TRUNCATE TABLE", notices.clone()))
            }
            Plan::CreateIndex {
                index,
                if_not_exists,
            } => {
                let notices = Box::pin(self.create_index(index, *if_not_exists, session)).await?;
                Ok(QueryResult::command("CREATE INDEX", notices))
            }
            Plan::Set {
                name,
                value,
                local,
                reset,
            } => {
                let tag = if *reset { "RESET" } else { "SET" };
                let notices = self.set(session, name, value.clone(), *local)?;
                Ok(QueryResult::command(tag, notices))
            }
            Plan::Listen { channel, listen } => {
                session.listen(channel, *listen);
                let tag = if *listen { "LISTEN" } else { "UNLISTEN" };
                Ok(QueryResult::command(tag, vec![]))
            }
            Plan::Prepare { name, statement } => {
                session.check_new_prepared(name)?;
                let statement = &statement.0;
                let mut listed = crate::engine::PreparedStatement::new(
                    &statement.sql,
                    &statement.param_types,
                    true,
                );
                listed.statement = Some(statement.clone());
                session.prepared.insert(name.clone(), listed);
                Ok(QueryResult::command("PREPARE", vec![]))
            }
            Plan::Execute { .. } => Err(Error::internal("EXECUTE run as a plan of its own")),
            Plan::Deallocate { name } => {
                let tag = if name.is_some() {
                    "DEALLOCATE"
                } else {
                    "DEALLOCATE ALL"
                };
                Ok(QueryResult::command(tag, vec![]))
            }
            Plan::Notify { channel, payload } => {
                session.notify(channel, payload)?;
                Ok(QueryResult::command("NOTIFY", vec![]))
            }
            Plan::DeclareCursor {
                name,
                options,
                query,
                columns,
                scrolls,
            } => {
                if !options.hold && session.txn.is_none() {
                    return Err(Error::new(
                        sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                        "DECLARE CURSOR can only be used in transaction blocks",
                    ));
                }
                if session.cursors.get(name).is_some() {
                    return Err(Error::new(
                        sqlstate::DUPLICATE_CURSOR,
                        format!("cursor \"{name}\" already exists"),
                    ));
                }
                let Plan::Select(select) = &**query else {
                    return Err(Error::internal("a cursor over a non-SELECT plan"));
                };
                let rows = self
                    .top_select(query, select, &statement.init, params, session)
                    .await?;
                if sequenced {
                    self.settle_sequences(Some(&session.sequences)).await?;
                }
                session.cursors.declare(
                    name,
                    &statement.sql,
                    columns.clone(),
                    rows,
                    *options,
                    *scrolls,
                    self.cluster.wall_clock(),
                    session.txn.as_ref().map_or(0, |t| t.savepoint_seq),
                )?;
                if session.txn.is_none() {
                    // Its own transaction has committed: it is held now.
                    session.cursors.end_transaction(true);
                }
                Ok(QueryResult::command("DECLARE CURSOR", vec![]))
            }
            Plan::FetchCursor {
                name,
                direction,
                move_only,
            } => {
                if let Some(cursor) = session.cursors.get(name) {
                    let shape = |c: &[crate::engine::ColumnDesc]| -> Vec<DataType> {
                        c.iter().map(|d| d.data_type).collect()
                    };
                    if !move_only
                        && !statement.columns.is_empty()
                        && shape(&statement.columns) != shape(&cursor.columns)
                    {
                        return Err(Error::unsupported(
                            "a FETCH prepared for another cursor of the same name",
                        )
                        .with_hint("Prepare the FETCH again."));
                    }
                }
                let fetched = session.cursors.fetch(name, *direction, *move_only)?;
                if *move_only {
                    return Ok(QueryResult::command(
                        format!("MOVE {}", fetched.count),
                        vec![],
                    ));
                }
                let cursor = session.cursors.get(name);
                Ok(QueryResult {
                    columns: cursor.map(|c| c.columns.clone()),
                    rows: fetched.rows,
                    tag: "FETCH".into(),
                    notices: vec![],
                    binary_rows: cursor.is_some_and(|c| c.binary),
                })
            }
            Plan::CloseCursor { name } => {
                session.cursors.close(name)?;
                Ok(QueryResult::command("CLOSE CURSOR", vec![]))
            }
            Plan::Discard(what) => {
                use crate::plan::Discard;
                if *what == Discard::All {
                    if session.txn.is_some() {
                        return Err(Error::new(
                            sqlstate::ACTIVE_SQL_TRANSACTION,
                            "DISCARD ALL cannot run inside a transaction block",
                        ));
                    }
                    session.listen("*", false);
                }
                if matches!(what, Discard::All | Discard::CloseAll) {
                    session.cursors.close_all();
                }
                if matches!(what, Discard::ResetAll | Discard::All) {
                    // Every setting the session changed back to its
                    // default; the user and what the server fixes stay.
                    let changed: Vec<String> = session
                        .settings
                        .keys()
                        .filter(|k| *k != "session_authorization")
                        .cloned()
                        .collect();
                    for key in changed {
                        let default = canonical_setting(&key).map_or("", |(_, d)| d);
                        if session.settings.get(&key).map(String::as_str) != Some(default) {
                            session.set(&key, default.to_string(), false)?;
                        }
                    }
                }
                Ok(QueryResult::command(what.tag(), vec![]))
            }
            Plan::Show { name } => Ok(QueryResult {
                columns: None,
                rows: Rows::one(vec![Value::Text(show_setting(session, name)?)]),
                tag: "SHOW".into(),
                notices: vec![],
                binary_rows: false,
            }),
            Plan::ShowAll => {
                // Every setting the node knows and every custom one the
                // session set, by name, as SHOW shows each.
                let mut names: Vec<&str> = REPORTED_SETTINGS
                    .iter()
                    .chain(OTHER_SETTINGS)
                    .map(|(n, _)| *n)
                    .chain(
                        session
                            .settings
                            .keys()
                            .filter(|k| k.contains('.'))
                            .map(String::as_str),
                    )
                    .collect();
                names.sort_by_key(|n| n.to_lowercase());
                names.dedup();
                let mut rows = Rows::new(3);
                for name in names {
                    let value = show_setting(session, name)?;
                    rows.push([
                        Value::Text(name.to_string()),
                        Value::Text(value),
                        Value::Text(String::new()),
                    ]);
                }
                Ok(QueryResult {
                    columns: None,
                    rows,
                    tag: "SHOW".into(),
                    notices: vec![],
                    binary_rows: false,
                })
            }
            Plan::SetSessionCharacteristics {
                isolation,
                read_only,
            } => {
                if let Some(i) = isolation {
                    session
                        .settings
                        .insert("default_transaction_isolation".into(), i.name().into());
                }
                if let Some(r) = read_only {
                    let value = if *r { "on" } else { "off" };
                    session
                        .settings
                        .insert("default_transaction_read_only".into(), value.into());
                    session
                        .reported_changes
                        .push(("default_transaction_read_only".into(), value.into()));
                }
                Ok(QueryResult::command("SET", vec![]))
            }
            plan if plan.is_transaction_control() => Err(Error::internal(
                "transaction control is handled before execution",
            )),
            _ => Err(Error::internal("a plan with no execution")),
        }
    }

    /// UPDATE or DELETE on `shards` (with `key`: only the row under it).
    async fn modify(
        &self,
        verb: &str,
        plan: &Arc<Plan>,
        (catalog, shards): (&Catalog, &[ShardId]),
        key: Option<Vec<u8>>,
        params: &Arc<Params>,
        session: &mut SessionState,
    ) -> Result<(u64, Vec<Row>)> {
        // Sequence functions are evaluated where the rows are.
        let sequenced = params.sequences.is_some();
        self.write(verb, session, sequenced, |mode| {
            Ok(shards
                .iter()
                .map(|s| {
                    (
                        *s,
                        self.routed(
                            catalog,
                            ShardRequest::Modify {
                                plan: plan.clone(),
                                params: params.clone(),
                                mode,
                                key: key.clone(),
                            },
                        ),
                    )
                })
                .collect())
        })
        .await
    }

    // ---- transaction blocks ------------------------------------------------

    fn begin(
        &self,
        session: &mut SessionState,
        isolation: Option<Isolation>,
        read_only: Option<bool>,
    ) -> Result<QueryResult> {
        let mut notices = vec![];
        if session.txn.is_some() {
            notices.push(warning(
                sqlstate::ACTIVE_SQL_TRANSACTION,
                "there is already a transaction in progress",
            ));
        } else {
            let isolation = match isolation {
                Some(i) => i,
                None => default_isolation(session)?,
            };
            let read_only = read_only.unwrap_or_else(|| {
                session
                    .settings
                    .get("default_transaction_read_only")
                    .is_some_and(|v| v == "on")
            });
            session.txn = Some(Txn {
                id: self.cluster.next_tx(),
                isolation,
                read_only,
                snapshot: None,
                participants: Default::default(),
                reads: Default::default(),
                failed: false,
                rolled_back: false,
                savepoints: vec![],
                savepoint_seq: 0,
                start: self.cluster.wall_clock(),
                deps: Vec::new(),
                restarted: Vec::new(),
                ddl: false,
                locked: Default::default(),
                table_locks: Vec::new(),
                implicit: false,
                globals: None,
            });
        }
        Ok(QueryResult::command("BEGIN", notices))
    }

    async fn commit(&self, session: &mut SessionState) -> Result<QueryResult> {
        let Some(txn) = session.txn.take() else {
            let notice = warning(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                "there is no transaction in progress",
            );
            return Ok(QueryResult::command("COMMIT", vec![notice]));
        };
        if txn.failed {
            self.abort(txn).await;
            session.end_block_settings(false);
            return Ok(QueryResult::command("ROLLBACK", vec![]));
        }
        let result = self.commit_participants(&txn).await;
        session.end_block_settings(result.is_ok());
        if let Some((floor, _)) = txn.snapshot {
            self.cluster.end_read(floor);
        }
        result.map(|()| QueryResult::command("COMMIT", vec![]))
    }

    /// One participant commits on its own; several use two-phase commit.
    /// A SERIALIZABLE transaction's reads are validated where they were made
    /// and stay locked until its writes are applied; on shards it only read,
    /// that happens before the commit starts (`TxnValidate`), so no decision
    /// is ever made for reads that did not hold.
    async fn commit_participants(&self, txn: &Txn) -> Result<()> {
        if let Some(since) = txn.globals {
            return self.commit_globals(txn, since).await;
        }
        let writers: Vec<ShardId> = txn.participants.iter().copied().collect();
        let readers: Vec<ShardId> = txn.reads.difference(&txn.participants).copied().collect();
        let validate = match (txn.isolation, txn.snapshot) {
            (Isolation::Serializable, Some((_, ts))) if !txn.reads.is_empty() => Some(ts),
            _ => None,
        };
        let id = txn.id;
        // A block whose catalog changes came to nothing (IF NOT EXISTS, or
        // undone) commits as any other: its rows' decision needs no
        // catalog record, and one on another node's shards must be
        // decided where that node can settle it (docs/CLUSTER.md §4).
        let committed = self.cluster.catalog();
        let ddl = txn.ddl && !Arc::ptr_eq(&self.cluster.catalog_as(id), &committed);
        if txn.ddl && !ddl {
            self.end_ddl(id).await;
        }
        if writers.is_empty() && !ddl {
            // Read-only: its snapshot is its serialization point.
            self.end_on(&readers, id).await;
            return Ok(());
        }
        if let Some(ts) = validate.filter(|_| !readers.is_empty()) {
            let checks = readers
                .iter()
                .map(|s| {
                    self.cluster
                        .call(*s, ShardRequest::TxnValidate { id, snapshot: ts })
                })
                .collect();
            let failure = join_all(checks).await.into_iter().find_map(Result::err);
            if let Some(e) = failure {
                self.end_on(&txn.shards().into_iter().collect::<Vec<_>>(), id)
                    .await;
                return Err(e);
            }
        }
        if ddl {
            return self.commit_with_ddl(txn, &writers, validate).await;
        }
        let result = match writers.as_slice() {
            [one] => self
                .cluster
                .call(*one, ShardRequest::TxnCommit { id, validate })
                .await
                .map(|_| ()),
            _ => {
                let prepares = writers
                    .iter()
                    .map(|s| (*s, ShardRequest::TxnPrepare { id, validate }))
                    .collect();
                let (_, _, failure) = self.two_phase(id, prepares, None).await;
                if failure.is_some() {
                    // Participants that failed to prepare still hold their intents.
                    self.end_on(&writers, id).await;
                }
                failure.map_or(Ok(()), Err)
            }
        };
        // Shards that only read release their read locks once the writes are applied.
        self.end_on(&readers, id).await;
        result
    }

    /// In a cluster, the changes to global tables not yet made there: an
    /// index made inside a block (each copy makes its entries from the
    /// committed rows, and a unique one's are written to the cluster's
    /// tables once it exists), a table with UNIQUE constraints made in a
    /// block (the same), and those that copy the rows (CREATE TABLE AS,
    /// ADD PRIMARY KEY).
    fn refuse_global_ddl(&self, plan: &Plan, catalog: &Catalog, in_block: bool) -> Result<()> {
        let (global, what) = match plan {
            Plan::CreateTable { table, unique, .. } => (
                table.global && in_block && !unique.is_empty(),
                "UNIQUE constraints inside a transaction block",
            ),
            Plan::CreateIndex { index, .. } => (
                catalog.table_by_id(index.table).is_some_and(|t| t.global) && in_block,
                "CREATE INDEX inside a transaction block",
            ),
            Plan::CreateTableAs { table, .. } => (table.global, "CREATE TABLE AS"),
            Plan::RewriteTable { table, .. } => (table.global, "ADD PRIMARY KEY"),
            _ => (false, ""),
        };
        if global {
            return Err(Error::unsupported(format!(
                "{what} on a global table, in a cluster"
            )));
        }
        Ok(())
    }

    /// In a cluster: the commit of a statement that wrote global tables,
    /// whose rows are all intents on this node's shard 0, through the
    /// cluster's log (`shard/globals.rs`).
    async fn commit_globals(&self, txn: &Txn, since: Timestamp) -> Result<()> {
        let id = txn.id;
        let home = self.cluster.home_shard();
        let shards: Vec<ShardId> = txn.shards().into_iter().collect();
        let result = if txn.participants.iter().any(|s| *s != home) {
            Err(match txn.implicit {
                true => crate::shard::mixed_global_write(),
                false => crate::shard::mixed_global_block(),
            })
        } else if txn.ddl {
            Err(crate::shard::refuse_global_block())
        } else if txn.participants.is_empty() {
            Ok(())
        } else {
            self.cluster
                .call(home, ShardRequest::CommitGlobals { id, since })
                .await
                .map(|_| ())
        };
        self.end_on(&shards, id).await;
        result
    }

    /// COMMIT of a block that changed the catalog: every shard holding its
    /// rows prepares (even one alone), then shard 0 writes the block's
    /// catalog changes as one record, which is also the commit decision
    /// (see `shard/ddl.rs`), and publishes them; then the shards apply the
    /// rows.
    async fn commit_with_ddl(
        &self,
        txn: &Txn,
        writers: &[ShardId],
        validate: Option<Timestamp>,
    ) -> Result<()> {
        let id = txn.id;
        let others: Vec<ShardId> = txn
            .shards()
            .into_iter()
            .filter(|s| !txn.participants.contains(s))
            .collect();
        let prepares = writers
            .iter()
            .map(|s| {
                self.cluster
                    .call(*s, ShardRequest::TxnPrepare { id, validate })
            })
            .collect();
        let mut failure = join_all(prepares).await.into_iter().find_map(Result::err);
        let ts = self.cluster.tick();
        if failure.is_none() {
            let end = ShardRequest::DdlEnd {
                tx: id,
                commit: Some((writers.to_vec(), ts)),
            };
            failure = self
                .cluster
                .call(self.cluster.home_shard(), end)
                .await
                .err();
        }
        let commit = failure.is_none();
        let local = self.cluster.local_shard();
        for s in writers.iter().filter(|s| **s != local) {
            let resolve = ShardRequest::Resolve { tx: id, commit, ts };
            if let Err(e) = self.cluster.post(*s, resolve).await {
                failure.get_or_insert(e);
            }
        }
        if writers.contains(&local) {
            let resolve = ShardRequest::Resolve { tx: id, commit, ts };
            if let Err(e) = self.cluster.call(local, resolve).await {
                failure.get_or_insert(e);
            }
        }
        if !commit {
            // Shards that failed to prepare still hold their intents.
            self.end_on(writers, id).await;
            self.end_ddl(id).await;
        }
        // Table locks and reads held elsewhere go once the rows are applied.
        self.end_on(&others, id).await;
        failure.map_or(Ok(()), Err)
    }

    /// Drops the catalog changes of block `id` and releases its DDL lock.
    async fn end_ddl(&self, id: TxId) {
        let end = ShardRequest::DdlEnd {
            tx: id,
            commit: None,
        };
        if let Err(e) = self.cluster.call(self.cluster.home_shard(), end).await {
            tracing::warn!("ending the catalog changes of transaction {id}: {e}");
        }
    }

    /// Lets the session's block change the catalog with `plan` (see
    /// `shard/ddl.rs`). Every write to the existing tables the change touches waits until
    /// the block ends, as PostgreSQL's table locks make them (a table
    /// another open block has written to: 55P03).
    async fn begin_ddl(&self, plan: &Plan, session: &mut SessionState) -> Result<()> {
        let seen = self.catalog_of(session);
        let committed = self.cluster.catalog();
        let tables = ddl_tables(plan, &seen);
        let shards = self.all_shards(&committed);
        let Some(txn) = session.txn.as_mut() else {
            return Ok(());
        };
        txn.ddl = true;
        let holder = txn.id;
        let savepoint = txn.current_savepoint();
        for table in tables {
            if committed.table_by_id(table).is_none() {
                // Made by this block: no one else sees it.
                continue;
            }
            txn.locked.extend(&shards);
            if !txn.table_locks.iter().any(|(t, _)| *t == table) {
                txn.table_locks.push((table, savepoint));
            }
            if let Some(e) = self.lock_table(&shards, holder, table).await {
                return Err(e);
            }
        }
        Ok(())
    }

    /// After an ALTER TABLE in the session's block that changes the shape
    /// of stored rows: every shard writes the block's own version of each
    /// row of `table` (`ShardRequest::Reshape`).
    async fn reshape_in_block(
        &self,
        table: tessera_types::TableId,
        session: &mut SessionState,
    ) -> Result<()> {
        let shards = self.all_shards(&self.catalog_of(session));
        let Some(txn) = session.txn.as_mut() else {
            return Err(Error::internal("a block's rewrite outside a block"));
        };
        txn.participants.extend(shards.iter().copied());
        let block = (txn.id, txn.current_savepoint());
        let calls = shards
            .iter()
            .map(|s| {
                self.cluster
                    .call(*s, ShardRequest::Reshape { table, block })
            })
            .collect();
        join_all(calls)
            .await
            .into_iter()
            .find_map(Result::err)
            .map_or(Ok(()), Err)
    }

    /// Sends `TxnAbort` to `shards`: rolls back what the transaction still
    /// holds there (intents, reads, read locks); a no-op where it ended.
    async fn end_on(&self, shards: &[ShardId], id: TxId) {
        let aborts = shards
            .iter()
            .map(|s| self.cluster.call(*s, ShardRequest::TxnAbort { id }))
            .collect();
        for r in join_all(aborts).await {
            if let Err(e) = r {
                tracing::warn!("ending transaction {id}: {e}");
            }
        }
    }

    async fn abort(&self, mut txn: Txn) {
        self.release(&mut txn).await;
    }

    /// Rolls back everything block `txn` holds: its intents, reads, read
    /// and table locks on every shard, its catalog changes and DDL lock,
    /// the sequences it restarted, and its snapshot. It then holds
    /// nothing, so a second call (the ROLLBACK of a block released at its
    /// error) sends nothing.
    async fn release(&self, txn: &mut Txn) {
        let shards: Vec<ShardId> = txn.shards().into_iter().collect();
        self.end_on(&shards, txn.id).await;
        txn.participants.clear();
        txn.reads.clear();
        txn.locked.clear();
        if std::mem::take(&mut txn.ddl) {
            self.end_ddl(txn.id).await;
        }
        let restarted = std::mem::take(&mut txn.restarted);
        if !restarted.is_empty() {
            for (s, (last, is_called)) in restarted.iter().rev() {
                if let Err(e) = s.set(*last, *is_called) {
                    tracing::warn!("could not restore sequence \"{}\": {e}", s.name);
                }
            }
            if let Err(e) = self.settle_sequences(None).await {
                tracing::warn!("could not log restored sequences: {e}");
            }
        }
        if let Some((floor, _)) = txn.snapshot.take() {
            self.cluster.end_read(floor);
        }
    }

    /// Undoes what block `txn` wrote since savepoint number `savepoint`:
    /// its intents on every shard it wrote to (keys first written since
    /// then are unlocked) and its catalog changes; then gives back the
    /// tables it locked since (`UnlockTable`). Doing it again does
    /// nothing.
    async fn undo_to(&self, txn: &mut Txn, savepoint: u32) -> Result<()> {
        let id = txn.id;
        let undo = txn
            .participants
            .iter()
            .map(|s| {
                self.cluster
                    .call(*s, ShardRequest::TxnRollbackTo { id, savepoint })
            })
            .collect();
        for r in join_all(undo).await {
            r?;
        }
        if txn.ddl {
            let undo = ShardRequest::DdlRollbackTo { tx: id, savepoint };
            self.cluster.call(self.cluster.home_shard(), undo).await?;
        }
        // The changes they were locked for are undone.
        let mut unlocks = Vec::new();
        for (table, _) in txn.table_locks.iter().filter(|(_, s)| *s >= savepoint) {
            for s in &txn.locked {
                let holder = id;
                let table = *table;
                unlocks.push(
                    self.cluster
                        .call(*s, ShardRequest::UnlockTable { holder, table }),
                );
            }
        }
        for r in join_all(unlocks).await {
            r?;
        }
        txn.table_locks.retain(|(_, s)| *s < savepoint);
        Ok(())
    }

    /// See [`QueryEngine::fail_block`]. An error inside a savepoint aborts
    /// only that subtransaction, as in PostgreSQL: what the block wrote
    /// before its newest live savepoint stays (and stays locked) for a
    /// ROLLBACK TO to resume from. Without one, the whole block is rolled
    /// back on every shard now; its later ROLLBACK (or COMMIT, which
    /// answers ROLLBACK) only ends it.
    async fn fail_session_block(&self, session: &mut SessionState) {
        let pid = session.pid();
        let Some(txn) = session.txn.as_mut() else {
            return;
        };
        txn.failed = true;
        if txn.rolled_back {
            return;
        }
        match txn.current_savepoint() {
            0 => {
                self.release(txn).await;
                // Transaction-level advisory locks go with it.
                if pid != 0 {
                    crate::advisory::locks().end_transaction(pid);
                }
            }
            savepoint => {
                if let Err(e) = self.undo_to(txn, savepoint).await {
                    // Left to the block's ROLLBACK or ROLLBACK TO, which
                    // undo it again.
                    tracing::warn!("rolling back transaction {} at its error: {e}", txn.id);
                    return;
                }
            }
        }
        txn.rolled_back = true;
    }

    async fn rollback(&self, session: &mut SessionState) -> QueryResult {
        match session.txn.take() {
            Some(txn) => {
                self.abort(txn).await;
                session.end_block_settings(false);
                QueryResult::command("ROLLBACK", vec![])
            }
            None => {
                let notice = warning(
                    sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                    "there is no transaction in progress",
                );
                QueryResult::command("ROLLBACK", vec![notice])
            }
        }
    }

    /// The open block, for a savepoint command; an error outside a block or
    /// (`allow_failed` false) in a failed one.
    fn block_for<'s>(
        session: &'s mut SessionState,
        what: &str,
        allow_failed: bool,
    ) -> Result<&'s mut Txn> {
        let Some(txn) = session.txn.as_mut() else {
            return Err(Error::new(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                format!("{what} can only be used in transaction blocks"),
            ));
        };
        if txn.failed && !allow_failed {
            return Err(Error::new(
                sqlstate::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        Ok(txn)
    }

    fn savepoint(&self, session: &mut SessionState, name: &str) -> Result<QueryResult> {
        let txn = Self::block_for(session, "SAVEPOINT", false)?;
        txn.savepoint_seq += 1;
        let seq = txn.savepoint_seq;
        txn.savepoints.push((name.to_string(), seq));
        Ok(QueryResult::command("SAVEPOINT", vec![]))
    }

    /// The position of the newest savepoint called `name`; 3B001 (and a
    /// failed block) if there is none.
    fn find_savepoint(txn: &mut Txn, name: &str) -> Result<usize> {
        match txn.savepoints.iter().rposition(|(n, _)| n == name) {
            Some(i) => Ok(i),
            None => {
                txn.failed = true;
                Err(Error::new(
                    sqlstate::INVALID_SAVEPOINT_SPECIFICATION,
                    format!("savepoint \"{name}\" does not exist"),
                ))
            }
        }
    }

    fn release_savepoint(&self, session: &mut SessionState, name: &str) -> Result<QueryResult> {
        let txn = Self::block_for(session, "RELEASE SAVEPOINT", false)?;
        let i = Self::find_savepoint(txn, name)?;
        // Its writes now belong to the enclosing savepoint: their numbers
        // are above it, so a ROLLBACK TO it still undoes them.
        txn.savepoints.truncate(i);
        Ok(QueryResult::command("RELEASE", vec![]))
    }

    async fn rollback_to_savepoint(
        &self,
        session: &mut SessionState,
        name: &str,
    ) -> Result<QueryResult> {
        let txn = Self::block_for(session, "ROLLBACK TO SAVEPOINT", true)?;
        let i = Self::find_savepoint(txn, name)?;
        let savepoint = txn.savepoints[i].1;
        txn.savepoints.truncate(i + 1);
        self.undo_to(txn, savepoint).await?;
        txn.failed = false;
        txn.rolled_back = false;
        session.cursors.rollback_to(savepoint);
        Ok(QueryResult::command("ROLLBACK", vec![]))
    }

    fn set_transaction(
        &self,
        session: &mut SessionState,
        isolation: Option<Isolation>,
        read_only: Option<bool>,
    ) -> Result<QueryResult> {
        let Some(txn) = session.txn.as_mut() else {
            let notice = warning(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                "SET TRANSACTION can only be used in transaction blocks",
            );
            return Ok(QueryResult::command("SET", vec![notice]));
        };
        if isolation.is_some() && (txn.snapshot.is_some() || !txn.participants.is_empty()) {
            return Err(Error::new(
                sqlstate::ACTIVE_SQL_TRANSACTION,
                "SET TRANSACTION ISOLATION LEVEL must be called before any query",
            ));
        }
        if let Some(i) = isolation {
            txn.isolation = i;
        }
        if let Some(r) = read_only {
            txn.read_only = r;
        }
        Ok(QueryResult::command("SET", vec![]))
    }

    /// Whether `plan` must run in a transaction even outside a block: it
    /// writes a table with a global unique index (whose entries change
    /// with its rows), it is an UPDATE that moves rows, or a TRUNCATE.
    fn needs_transaction(&self, plan: &Plan) -> bool {
        let table = match plan {
            Plan::Insert(i) => &i.table,
            Plan::Update(u) if u.moves => return true,
            Plan::Update(u) => &u.table,
            Plan::Delete(d) => &d.table,
            Plan::Truncate { .. } => return true,
            _ => return false,
        };
        let catalog = self.cluster.catalog();
        let global = catalog.indexes_of(table.id).any(|i| i.is_global(table));
        global
    }

    /// `SET name = value` (`None`: `RESET`), also what `set_config` wrote:
    /// checked as PostgreSQL checks it, then applied to the session.
    fn set(
        &self,
        session: &mut SessionState,
        name: &str,
        value: Option<String>,
        local: bool,
    ) -> Result<Vec<Notice>> {
        if local && session.txn.is_none() {
            return Ok(vec![warning(
                sqlstate::NO_ACTIVE_SQL_TRANSACTION,
                "SET LOCAL can only be used in transaction blocks",
            )]);
        }
        let known = canonical_setting(name);
        let Some((canonical, default)) = known.or_else(|| name.contains('.').then_some(("", "")))
        else {
            return Err(Error::new(
                sqlstate::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{name}\""),
            ));
        };
        let key = if canonical.is_empty() {
            name.to_string()
        } else {
            canonical.to_string()
        };
        if READ_ONLY_SETTINGS.contains(&key.as_str()) {
            return Err(Error::new(
                sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{key}\" cannot be changed"),
            ));
        }
        if key == "session_authorization" && value.is_some() {
            // Privilege checks follow the role authenticated, but
            // names (and pg_authid) follow this setting.
            let catalog = self.catalog_of(session);
            let superuser = catalog.role(&session.user).is_some_and(|r| r.superuser);
            if !session.user.is_empty() && !superuser {
                return Err(Error::new(
                    sqlstate::INSUFFICIENT_PRIVILEGE,
                    "permission denied to set session authorization",
                ));
            }
        }
        let reset_to = match key.as_str() {
            "session_authorization" if !session.user.is_empty() => session.user.as_str(),
            _ => default,
        };
        let value = value.unwrap_or_else(|| reset_to.to_string());
        let value = crate::engine::check_setting(
            &key,
            name,
            &value,
            session.settings.get(&key).map(String::as_str),
        )?;
        session.set(&key, value, local)?;
        Ok(vec![])
    }

    /// Runs a bound statement; one that calls `current_setting` or
    /// `set_config` reads the settings as it began, and what it wrote is
    /// applied once it has succeeded (see [`crate::settings_fn`]).
    async fn run(
        &self,
        statement: &Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        if !statement.uses_settings {
            return self.run_with_effects(statement, params, session).await;
        }
        let settings = Arc::new(StatementSettings::new(setting_values(session)));
        session.statement_settings = Some(settings.clone());
        let result = self.run_with_effects(statement, params, session).await;
        session.statement_settings = None;
        let mut result = result?;
        for write in settings.take_writes() {
            // Outside a block a local value would end with the statement.
            if write.local && session.txn.is_none() {
                continue;
            }
            let notices = self.set(session, &write.name, Some(write.value), write.local);
            match notices {
                Ok(notices) => result.notices.extend(notices),
                Err(e) => {
                    if let Some(txn) = session.txn.as_mut() {
                        txn.failed = true;
                    }
                    return Err(e);
                }
            }
        }
        Ok(result)
    }

    /// Runs a bound statement ([`run_in_block`](Self::run_in_block)),
    /// then what its `pg_sleep` calls asked to wait; what its `pg_notify`
    /// calls asked to send goes to the session's NOTIFY if it succeeded,
    /// and nowhere if it failed.
    async fn run_with_effects(
        &self,
        statement: &Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        let me = crate::activity::sessions().find(session.pid());
        if let Some(me) = &me {
            me.take_statement_notifies();
            me.take_statement_sleep();
        }
        if statement.sleeps && !matches!(&*statement.plan, Plan::Select(_)) {
            // Its sleep would come after its writes are done (below).
            if let Some(txn) = session.txn.as_mut() {
                txn.failed = true;
            }
            return Err(Error::unsupported(
                "pg_sleep outside a SELECT (call it in a SELECT of its own)",
            ));
        }
        let result = self.run_in_block(statement, params, session).await;
        let (notifies, sleep) = match me {
            Some(me) => (me.take_statement_notifies(), me.take_statement_sleep()),
            None => (Vec::new(), std::time::Duration::ZERO),
        };
        let result = result?;
        if let Err(e) = sleep_interruptibly(sleep).await {
            if let Some(txn) = session.txn.as_mut() {
                txn.failed = true;
            }
            return Err(e);
        }
        for (channel, payload) in notifies {
            session.notify(&channel, &payload)?;
        }
        Ok(result)
    }

    /// Runs a bound statement with the transaction-block rules around it.
    async fn run_in_block(
        &self,
        statement: &Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        match &*statement.plan {
            Plan::Begin {
                isolation,
                read_only,
            } => return self.begin(session, *isolation, *read_only),
            Plan::Commit => return self.commit(session).await,
            Plan::Rollback => return Ok(self.rollback(session).await),
            Plan::Savepoint { name } => return self.savepoint(session, name),
            Plan::ReleaseSavepoint { name } => return self.release_savepoint(session, name),
            Plan::RollbackToSavepoint { name } => {
                return self.rollback_to_savepoint(session, name).await
            }
            Plan::SetTransaction {
                isolation,
                read_only,
            } => return self.set_transaction(session, *isolation, *read_only),
            _ => {}
        }
        if let Some(txn) = &session.txn {
            if txn.failed {
                return Err(Error::new(
                    sqlstate::IN_FAILED_SQL_TRANSACTION,
                    "current transaction is aborted, commands ignored until end of transaction block",
                ));
            }
            if matches!(&*statement.plan, Plan::Vacuum { .. }) {
                if let Some(txn) = session.txn.as_mut() {
                    txn.failed = true;
                }
                return Err(Error::new(
                    sqlstate::ACTIVE_SQL_TRANSACTION,
                    "VACUUM cannot run inside a transaction block",
                ));
            }
            if statement.plan.is_ddl() || matches!(&*statement.plan, Plan::Comment { .. }) {
                if let Err(e) = self.begin_ddl(&statement.plan, session).await {
                    if let Some(txn) = session.txn.as_mut() {
                        txn.failed = true;
                    }
                    return Err(e);
                }
            }
        }
        if session.txn.is_none() && self.needs_transaction(&statement.plan) {
            // Its entries elsewhere must change atomically with its rows.
            self.begin(session, None, None)?;
            return match self.execute_plan(statement, params, session).await {
                Ok(result) => self.commit(session).await.map(|_| result),
                Err(e) => {
                    self.rollback(session).await;
                    Err(e)
                }
            };
        }
        // Kept for a write that may have to run again (below).
        let again = match &*statement.plan {
            Plan::Insert(_) | Plan::Update(_) | Plan::Delete(_) if session.txn.is_none() => {
                Some(params.clone())
            }
            _ if statement.uses_sequences && session.txn.is_none() => Some(params.clone()),
            _ => None,
        };
        let result = if statement.advisory_waits {
            self.execute_waiting(statement, params, session).await
        } else {
            self.execute_plan(statement, params, session).await
        };
        if let Err(e) = &result {
            match (session.txn.as_mut(), again) {
                (Some(txn), _) => txn.failed = true,
                // Another node claimed the sequence values it drew (before
                // any row held them): it draws new ones.
                (None, Some(params)) if crate::sequence::is_lost_values(e) => {
                    return Box::pin(self.run(statement, params, session)).await;
                }
                // A global index appeared while it ran: run it again in a
                // transaction that maintains the index.
                (None, Some(params))
                    if e.code == sqlstate::SERIALIZATION_FAILURE
                        && self.needs_transaction(&statement.plan) =>
                {
                    return Box::pin(self.run(statement, params, session)).await;
                }
                _ => {}
            }
        }
        result
    }
}

/// How often a `pg_sleep` looks for a cancel, a termination or its
/// statement's timeout.
const SLEEP_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Waits `total` on the event loop (the shard goes on serving its other
/// sessions), stopping early with the statement's interrupt error (57014
/// on a cancel or `statement_timeout`).
async fn sleep_interruptibly(total: std::time::Duration) -> Result<()> {
    if total.is_zero() {
        return Ok(());
    }
    let start = std::time::Instant::now();
    loop {
        tessera_types::interrupt::check()?;
        let left = total.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(());
        }
        tokio::time::sleep(left.min(SLEEP_CHECK_INTERVAL)).await;
    }
}

fn warning(code: tessera_types::sqlstate::SqlState, message: &str) -> Notice {
    Notice {
        code: code.code(),
        severity: "WARNING",
        message: message.into(),
        detail: None,
    }
}

/// The isolation level of a BEGIN that names none: `default_transaction_isolation`.
fn default_isolation(session: &SessionState) -> Result<Isolation> {
    match session
        .settings
        .get("default_transaction_isolation")
        .map(|v| v.to_lowercase())
    {
        None => Ok(Isolation::ReadCommitted),
        Some(v) if v == "read committed" || v == "read uncommitted" => Ok(Isolation::ReadCommitted),
        Some(v) if v == "repeatable read" => Ok(Isolation::RepeatableRead),
        Some(v) if v == "serializable" => Ok(Isolation::Serializable),
        Some(v) => Err(Error::unsupported(format!(
            "default_transaction_isolation \"{v}\" in this version"
        ))),
    }
}

/// Errors after which an autocommit statement may simply run again: it
/// changed nothing, and the conflict that stopped it has moved on.
fn is_retryable(e: &Error) -> bool {
    // Not a refusal because buckets moved: the statement must be routed
    // again, not its requests sent again.
    (e.code == sqlstate::SERIALIZATION_FAILURE || e.code == sqlstate::DEADLOCK_DETECTED)
        && crate::shard::stale_map_epoch(e).is_none()
}

fn cluster_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1
}

/// A write's count and RETURNING rows (a prepared write that touches a
/// global index reports its entries through the router's own path).
fn expect_written(r: ShardResponse) -> Result<(u64, Vec<Row>)> {
    match r {
        ShardResponse::Written(n, _, rows) => Ok((n, rows)),
        other => Ok((expect_count(other)?, vec![])),
    }
}

fn expect_count(r: ShardResponse) -> Result<u64> {
    match r {
        ShardResponse::Count(n) => Ok(n),
        other => Err(Error::internal(format!(
            "unexpected reply to a write: {other:?}"
        ))),
    }
}

fn expect_done(r: ShardResponse) -> Result<Vec<Notice>> {
    match r {
        ShardResponse::Done(n) => Ok(n),
        other => Err(Error::internal(format!("unexpected reply: {other:?}"))),
    }
}

fn eval_count(e: &Option<crate::expr::Expr>, params: &Params, what: &str) -> Result<Option<u64>> {
    let Some(e) = e else { return Ok(None) };
    match e.eval(&[], params)? {
        Value::Null => Ok(None),
        v => {
            let n = v.cast(DataType::Int8, true)?.as_i64().unwrap_or(0);
            if n < 0 {
                let code = if what == "LIMIT" {
                    sqlstate::INVALID_ROW_COUNT_IN_LIMIT
                } else {
                    sqlstate::INVALID_ROW_COUNT_IN_OFFSET
                };
                return Err(Error::new(code, format!("{what} must not be negative")));
            }
            Ok(Some(n as u64))
        }
    }
}

/// How two values of a sort key order: NULLs first or last as asked,
/// others by value, reversed when descending.
pub fn sort_order(x: &Value, y: &Value, descending: bool, nulls_first: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (x.is_null(), y.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) if nulls_first => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, true) if nulls_first => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) if descending => x.compare(y).reverse(),
        (false, false) => x.compare(y),
    }
}

/// Whether `rows` are in the order of `order_by`.
fn in_order(rows: &Rows, order_by: &[crate::plan::SortKey]) -> bool {
    (1..rows.len()).all(|i| row_order(rows.row(i - 1), rows.row(i), order_by).is_le())
}

/// How two rows order by `order_by`.
fn row_order(a: &[Value], b: &[Value], order_by: &[crate::plan::SortKey]) -> std::cmp::Ordering {
    order_by
        .iter()
        .map(|k| sort_order(&a[k.column], &b[k.column], k.descending, k.nulls_first))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The shards' runs of rows, each in the query's ORDER BY (read in the
/// order of a path that serves it), merged into one run in that order:
/// the router compares the heads of the runs instead of sorting them all.
fn merge_runs(runs: Vec<Rows>, order_by: &[crate::plan::SortKey]) -> Rows {
    // An empty run may not know its width.
    let width = runs.iter().find(|r| !r.is_empty()).map_or(0, Rows::width);
    let total = runs.iter().map(Rows::len).sum();
    let mut merged = Rows::with_capacity(width, total);
    let mut next = vec![0usize; runs.len()];
    let before = |a: &[Value], b: &[Value]| row_order(a, b, order_by).is_lt();
    loop {
        // Few runs (one per shard): the smallest head by a linear look.
        let mut smallest: Option<usize> = None;
        for (r, run) in runs.iter().enumerate() {
            let Some(head) = run.get(next[r]) else {
                continue;
            };
            if smallest.is_none_or(|s| before(head, runs[s].row(next[s]))) {
                smallest = Some(r);
            }
        }
        let Some(r) = smallest else {
            return merged;
        };
        merged.push_slice(runs[r].row(next[r]));
        next[r] += 1;
    }
}

/// The router's half of a SELECT: merge aggregates, HAVING, DISTINCT,
/// ORDER BY, OFFSET/LIMIT, and drop the sort-only columns.
pub fn finish_select(plan: &SelectPlan, rows: Rows, params: &Params) -> Result<Rows> {
    finish_rows(plan, rows, params, false)
}

/// `finish_select`, of rows already in the ORDER BY when `ordered`
/// (merged from the shards' ordered runs).
fn finish_rows(plan: &SelectPlan, rows: Rows, params: &Params, ordered: bool) -> Result<Rows> {
    // Under EXPLAIN ANALYZE, each step's rows and own time.
    let measuring = crate::explain::measuring();
    let mut clock = std::time::Instant::now();
    let mut step = |stage: &'static str, rows: usize| {
        if measuring {
            crate::explain::record(plan, stage, rows, clock.elapsed());
            clock = std::time::Instant::now();
        }
    };
    let mut rows = match &plan.aggregate {
        None => rows,
        Some(agg) => {
            // Groups found by their borrowed key values, in first-seen order.
            let mut groups = crate::batch::GroupIndex::default();
            let mut all_states: Vec<Vec<AggState>> = Vec::new();
            for (n, row) in rows.iter().enumerate() {
                memory::check_every(n + 1, crate::join::MEMORY_CHECK_ROWS)?;
                let key = &row[..agg.group_count];
                let (g, new) = groups.find_or_insert(key.iter());
                if new {
                    all_states.push(agg.aggs.iter().map(AggState::new).collect());
                }
                let mut at = agg.group_count;
                for (state, call) in all_states[g].iter_mut().zip(&agg.aggs) {
                    let width = call.partial_width();
                    state.merge(call, &row[at..at + width])?;
                    at += width;
                }
            }
            drop(rows);
            let mut out = Rows::with_capacity(agg.output.len(), groups.len());
            let mut grouped = Vec::new();
            for (g, states) in all_states.into_iter().enumerate() {
                grouped.clear();
                grouped.extend(groups.take_key(g));
                for (state, call) in states.into_iter().zip(&agg.aggs) {
                    grouped.push(state.finish(call, params)?);
                }
                if let Some(h) = &agg.having {
                    if !h.eval_predicate(&grouped, params)? {
                        continue;
                    }
                }
                let start = out.values().len();
                for e in &agg.output {
                    let v = e.eval(&grouped, params)?;
                    out.values_mut().push(v);
                }
                out.commit(start);
            }
            step("aggregate", out.len());
            out
        }
    };
    if let Some(stage) = &plan.window {
        rows = crate::window::apply(stage, rows, params)?;
        step("window", rows.len());
    }
    if plan.distinct {
        let mut seen = crate::batch::GroupIndex::default();
        rows.retain(|r| seen.find_or_insert(r[..plan.visible].iter()).1);
    }
    if !plan.order_by.is_empty() && ordered {
        step("merge", rows.len());
    } else if !plan.order_by.is_empty() {
        rows.sort_by(|a, b| row_order(a, b, &plan.order_by));
        step("sort", rows.len());
    }
    if !plan.distinct_on.is_empty() {
        let mut seen = crate::batch::GroupIndex::default();
        rows.retain(|r| {
            seen.find_or_insert(plan.distinct_on.iter().map(|c| &r[*c]))
                .1
        });
    }
    let offset = eval_count(&plan.offset, params, "OFFSET")?.unwrap_or(0);
    let limit = eval_count(&plan.limit, params, "LIMIT")?;
    if plan.distinct || !plan.distinct_on.is_empty() {
        step("distinct", rows.len());
    }
    if offset > 0 || limit.is_some() {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = match limit {
            Some(l) => start.saturating_add(usize::try_from(l).unwrap_or(usize::MAX)),
            None => usize::MAX,
        };
        rows.keep_range(start..end);
        step("limit", rows.len());
    }
    rows.narrow(plan.visible);
    Ok(rows)
}

impl<C: Cluster> Router<C> {
    /// [`QueryEngine::execute`], before an error's schema is named.
    async fn execute_named(
        &self,
        statement: &Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        if !matches!(
            statement.parsed.statement,
            sqlparser::ast::Statement::Execute { .. }
        ) {
            return self.execute_resolved(statement, params, session).await;
        }
        // EXECUTE: bound now if it could not be when prepared (the PREPARE
        // came earlier in the same Query).
        let bound;
        let outer = if statement.deferred {
            let catalog = self.catalog_of(session);
            let time = session.time_context(self.cluster.wall_clock());
            let binder = Binder::new(&catalog, &[], time)
                .with_names(session.names())
                .with_stats(self.cluster.table_stats());
            bound = bind_execute(binder, &statement.parsed, &statement.sql, session)?;
            &bound
        } else {
            statement
        };
        let Plan::Execute {
            name,
            args,
            statement: bound_against,
        } = &*outer.plan
        else {
            return Err(Error::internal("EXECUTE without its plan"));
        };
        let values = {
            let time = session.time_context(self.cluster.wall_clock());
            let params = Params::new(params, time);
            args.iter()
                .map(|a| a.eval(&[], &params))
                .collect::<Result<Vec<_>>>()?
        };
        // The statement of that name now: DEALLOCATE and PREPARE may have
        // replaced it since the EXECUTE was bound.
        let prepared = session
            .prepared
            .get_mut(name)
            .ok_or_else(|| unknown_prepared(name))?;
        let current = prepared
            .statement
            .clone()
            .ok_or_else(|| unknown_prepared(name))?;
        let shape = |c: &[crate::engine::ColumnDesc]| -> Vec<(String, DataType)> {
            c.iter().map(|d| (d.name.clone(), d.data_type)).collect()
        };
        let bound_against = &bound_against.0;
        if !Arc::ptr_eq(&current, bound_against)
            && (shape(&current.columns) != shape(&bound_against.columns)
                || current.param_types != bound_against.param_types)
        {
            return Err(
                Error::unsupported("a cached plan whose result type changed")
                    .with_hint("Prepare the statement again."),
            );
        }
        prepared.count_execution();
        let mut result = self.execute_resolved(&current, values, session).await?;
        if statement.deferred {
            result.columns = Some(current.columns.clone());
        }
        Ok(result)
    }

    /// [`Router::execute_named`] of a statement that is not an EXECUTE.
    async fn execute_resolved(
        &self,
        statement: &Statement,
        mut params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        // In a cluster, a statement that writes global tables runs in a
        // block of its own (or its simple Query's implicit one) that
        // commits through the cluster's log, and runs again when another
        // node changed a row it changes first (40001).
        let global = self.cluster.in_cluster() && writes_global(statement);
        if global {
            self.join_globals(session)?;
        } else if self.cluster.in_cluster() {
            self.refuse_mixed_block(statement, session)?;
        }
        // In a cluster, a statement a shard refused because buckets moved
        // since its router's map (see `shard/buckets.rs`) runs again by
        // the newer map when nothing of it stays: outside a block, or a
        // query that writes nothing.
        let on_its_own = session.txn.is_none();
        let reads_only = matches!(&*statement.plan, Plan::Select(_))
            && !statement.uses_sequences
            && init_writing_verb(&statement.init).is_none();
        let rerun_moved = self.cluster.in_cluster() && (on_its_own || reads_only);
        let mut attempt = 0;
        let mut moved = 0;
        let mut master_wait: Option<std::time::Instant> = None;
        loop {
            // A write with foreign keys to check or act on runs in a block,
            // so what they do commits with it (an implicit one outside a
            // block). So does one with data-modifying WITH queries: they
            // and the statement commit together.
            let implicit = session.txn.is_none()
                && (global
                    || !statement.deferred
                        && (init_writing_verb(&statement.init).is_some()
                            || self
                                .foreign_key_work(&statement.plan, &self.cluster.catalog())?
                                .is_some()));
            if implicit {
                self.begin_implicit(session)?;
                if global {
                    self.join_globals(session)?;
                }
            }
            // Kept for a run again.
            let run_params = match implicit && global || rerun_moved {
                true => params.clone(),
                false => std::mem::take(&mut params),
            };
            let start = block_deps(session);
            let (result, deps) = with_statement_deps(
                start,
                self.execute_statement(statement, run_params, session),
            )
            .await;
            let result = match result {
                Ok(r) => {
                    // A query's answer (even an empty one) is a reading of the state.
                    let answers = !statement.columns.is_empty() || !r.rows.is_empty();
                    self.settle(session, deps, answers).await.map(|()| r)
                }
                Err(e) => Err(e),
            };
            let result = if implicit {
                let ended = self.end_implicit(session, result.is_ok()).await;
                result.and_then(|r| ended.map(|()| r))
            } else {
                result
            };
            // Transaction-level advisory locks end with the transaction (the
            // statement's own, outside a block).
            if session.txn.is_none() && session.pid() != 0 {
                crate::advisory::locks().end_transaction(session.pid());
            }
            let stale = match &result {
                Err(e) if rerun_moved && moved < MOVED_RERUNS => crate::shard::stale_map_epoch(e),
                _ => None,
            };
            if let Some(epoch) = stale {
                moved += 1;
                self.catch_up_buckets(epoch).await?;
                continue;
            }
            // A shard's master was unreachable or replaced (docs/CLUSTER.md
            // §6): nothing ran there, and the statement runs again once
            // the governor's failover names the new one.
            if rerun_moved
                && self.cluster.replicated()
                && matches!(&result, Err(e) if e.is_no_master_reached())
            {
                let since = *master_wait.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() < MASTER_WAIT {
                    self.sleep_up_to(50_000, 100_000).await;
                    continue;
                }
            }
            match result {
                Err(e)
                    if implicit
                        && global
                        && e.code == sqlstate::SERIALIZATION_FAILURE
                        && attempt < GLOBAL_WRITE_TRIES =>
                {
                    attempt += 1;
                    // A write goes through the log: milliseconds apart.
                    self.sleep_up_to(500, 2_000 * attempt.min(10) as u64).await;
                }
                // In a block, a statement that reached no master (its node
                // died or was replaced) cannot run again by itself: what
                // it did elsewhere stays in the block. The client runs the
                // block again, as after a standby's recovery conflict
                // (40001, which retry loops know), not a lost connection.
                Err(e) if !on_its_own && e.is_no_master_reached() => return Err(Error {
                    code: sqlstate::SERIALIZATION_FAILURE,
                    ..e
                }
                .with_hint(
                    "A shard's master is being replaced: roll back and run the transaction again.",
                )),
                other => return other,
            }
        }
    }

    /// Waits until this node's bucket map has reached `epoch` (a shard
    /// refused a request routed by an older one), up to 10 s.
    async fn catch_up_buckets(&self, epoch: u64) -> Result<()> {
        let reached = crate::shard::catalog_reaches(
            || self.cluster.catalog(),
            |c| c.buckets.moves.epoch >= epoch,
            std::time::Duration::from_secs(10),
        );
        match reached.await? {
            true => Ok(()),
            false => Err(crate::shard::stale_map(epoch)),
        }
    }

    /// In a cluster: the session's block is to write global tables. It
    /// then commits through the cluster's log (`shard/globals.rs`), so it
    /// may write no other table and change no catalog; a SERIALIZABLE one
    /// may not (its other reads would go unvalidated). Its writes conflict
    /// with any other write of their rows after its snapshot (REPEATABLE
    /// READ) or its first write of a global table (READ COMMITTED).
    fn join_globals(&self, session: &mut SessionState) -> Result<()> {
        if let Some(txn) = session.txn.as_mut() {
            if txn.globals.is_some() {
                return Ok(());
            }
            let refused = if txn.implicit {
                None
            } else if txn.ddl {
                Some(crate::shard::refuse_global_block())
            } else if txn.isolation == Isolation::Serializable && !txn.read_only {
                Some(crate::shard::refuse_global_serializable())
            } else if !txn.participants.is_empty() {
                // Its writes so far are of other tables.
                Some(crate::shard::mixed_global_block())
            } else {
                None
            };
            if let Some(e) = refused {
                txn.failed = true;
                return Err(e);
            }
            let snapshot = match txn.isolation {
                Isolation::ReadCommitted => None,
                _ => txn.snapshot.map(|(_, ts)| ts),
            };
            txn.globals = Some(snapshot.unwrap_or_else(|| self.cluster.tick()));
        }
        Ok(())
    }

    /// In a cluster: a statement of a block that writes global tables
    /// writes another table (refused: the block commits through the
    /// cluster's log alone).
    fn refuse_mixed_block(&self, statement: &Statement, session: &mut SessionState) -> Result<()> {
        let Some(txn) = session.txn.as_mut() else {
            return Ok(());
        };
        let writes = matches!(
            &*statement.plan,
            Plan::Insert(_)
                | Plan::Update(_)
                | Plan::Delete(_)
                | Plan::CopyFrom { .. }
                | Plan::Truncate { .. }
        ) || init_writing_verb(&statement.init).is_some();
        if txn.globals.is_some() && !txn.implicit && writes {
            txn.failed = true;
            return Err(crate::shard::mixed_global_block());
        }
        Ok(())
    }

    /// Names the schema of the table an error is about (see
    /// [`tessera_types::ErrorObject::schema_id`]).
    fn name_schema(&self, e: Error) -> Error {
        if e.object.is_none() {
            return e;
        }
        let catalog = self.cluster.catalog();
        e.name_schema(|id| catalog.schema_by_id(id).map(|s| s.name.clone()))
    }
}

impl<C: Cluster> Router<C> {
    /// What the simple-Query cache keeps for `sql`, a Query just bound as
    /// `original` (see [`crate::query_cache`]): its plan with its slots as
    /// parameters, if that plan has the same result and its parameters
    /// read `sql`'s constants; otherwise a mark that this text runs
    /// uncached.
    fn cache_entry(
        &self,
        sql: &str,
        lexed: &query_cache::Lexed<'_>,
        original: &Statement,
        session: &SessionState,
    ) -> query_cache::Entry {
        let mut parsed = (*original.parsed).clone();
        let (uses, types) = query_cache::make_slots(sql, lexed, &mut parsed.statement);
        if types.is_empty() {
            return query_cache::Entry::new(Some(original.clone()), uses);
        }
        let uncached = |uses| query_cache::Entry::new(None, uses);
        let catalog = self.catalog_of(session);
        let time = session.time_context(self.cluster.wall_clock());
        let bound = Binder::new(&catalog, &types, time.clone())
            .with_names(session.names())
            .with_stats(self.cluster.table_stats())
            .with_prepared(&session.prepared)
            .with_cursors(&session.cursors)
            .bind(&parsed, sql);
        let Ok(bound) = bound else {
            return uncached(uses);
        };
        let shape = |c: &[crate::engine::ColumnDesc]| -> Vec<(String, DataType)> {
            c.iter().map(|d| (d.name.clone(), d.data_type)).collect()
        };
        let same = bound.param_types.len() == types.len()
            && query_cache::cacheable(&bound)
            && bound.catalog_version == original.catalog_version
            && bound.returns_rows == original.returns_rows
            && bound.uses_sequences == original.uses_sequences
            && bound.advisory_waits == original.advisory_waits
            && bound.sleeps == original.sleeps
            && shape(&bound.columns) == shape(&original.columns)
            && query_cache::slot_values(lexed, &uses, &bound.param_types, &time).is_ok();
        match same {
            true => query_cache::Entry::new(Some(bound), uses),
            false => uncached(uses),
        }
    }
}

impl<C: Cluster> QueryEngine for Router<C> {
    type Statement = Statement;

    fn role(&self, name: &str) -> Option<Arc<tessera_types::RoleDef>> {
        self.cluster.catalog().role(name).cloned()
    }

    fn prepare(
        &self,
        sql: &str,
        param_types: &[Option<DataType>],
        session: &SessionState,
    ) -> Result<Vec<Statement>> {
        let parsed = crate::parser::parse(sql)?;
        let catalog = self.catalog_of(session);
        let time = session.time_context(self.cluster.wall_clock());
        let names = session.names();
        let mut statements = Vec::with_capacity(parsed.len());
        // After a SET in the same Query, later statements are bound when
        // they run: their constants read the new TimeZone or DateStyle, as
        // PostgreSQL analyzes each statement just before running it.
        let mut after_set = false;
        for (i, p) in parsed.iter().enumerate() {
            let deferred = || Statement {
                returns_rows: matches!(
                    p.statement,
                    sqlparser::ast::Statement::Query(_)
                        | sqlparser::ast::Statement::ShowVariable { .. }
                        | sqlparser::ast::Statement::Explain { .. }
                ),
                deferred: true,
                ..Statement::new(sql, Plan::Commit, p, catalog.version, &names.setting)
            };
            if after_set {
                statements.push(deferred());
                continue;
            }
            // A FETCH describes its cursor's rows: one declared by an
            // earlier statement of this Query is known when it runs.
            if let Some(crate::cursor::CursorCommand::Fetch {
                name,
                move_only: false,
                ..
            }) = &p.cursor
            {
                if session.cursors.get(name).is_none() && i > 0 {
                    statements.push(Statement {
                        returns_rows: true,
                        ..deferred()
                    });
                    continue;
                }
            }
            let binder = Binder::new(&catalog, param_types, time.clone())
                .with_names(names.clone())
                .with_stats(self.cluster.table_stats())
                .with_prepared(&session.prepared)
                .with_cursors(&session.cursors);
            let bound = match &p.statement {
                sqlparser::ast::Statement::Execute { .. } => bind_execute(binder, p, sql, session),
                sqlparser::ast::Statement::Explain {
                    statement: inner,
                    analyze: false,
                    format: None,
                    options,
                    ..
                } if matches!(**inner, sqlparser::ast::Statement::Execute { .. })
                    && options.iter().flatten().all(|o| {
                        let name = o.name.value.to_ascii_lowercase();
                        EXPLAIN_EXECUTE_OPTIONS.contains(&name.as_str())
                    }) =>
                {
                    explain_execute(binder, p, inner, sql, session)
                }
                _ => binder.bind(p, sql),
            };
            match bound {
                Ok(mut statement) => {
                    after_set = matches!(*statement.plan, Plan::Set { .. });
                    if let Plan::FetchCursor {
                        name,
                        move_only: false,
                        ..
                    } = &*statement.plan
                    {
                        if let Some(cursor) = session.cursors.get(name) {
                            statement.columns = cursor.columns.clone();
                        }
                    }
                    statements.push(statement)
                }
                // A later statement of a Query may name what an earlier one
                // creates: bind it when it runs, as PostgreSQL does.
                Err(_) if i > 0 => statements.push(deferred()),
                Err(e) => return Err(e),
            }
        }
        Ok(statements)
    }

    fn prepare_simple(
        &self,
        sql: &str,
        session: &mut SessionState,
    ) -> Result<Vec<(Statement, Vec<Value>)>> {
        let plain = |statements: Vec<Statement>| {
            statements
                .into_iter()
                .map(|s| (s, Vec::new()))
                .collect::<Vec<_>>()
        };
        // A block that changed the catalog binds against its own version of
        // it, which a later one may number the same.
        let lexed = match session.txn.as_ref().is_some_and(|t| t.ddl) {
            true => None,
            false => query_cache::lex(sql),
        };
        let Some(lexed) = lexed else {
            return Ok(plain(self.prepare(sql, &[], session)?));
        };
        let catalog_version = self.catalog_of(session).version;
        if let Some(entry) = session.query_cache.get(&lexed.key) {
            match &entry.template {
                Some(t)
                    if t.catalog_version == catalog_version
                        && t.search_path == session.search_path() =>
                {
                    let time = session.time_context(self.cluster.wall_clock());
                    match query_cache::slot_values(&lexed, &entry.uses, &t.param_types, &time) {
                        Ok(values) => {
                            let mut statement = t.clone();
                            statement.sql = sql.to_string();
                            return Ok(vec![(statement, values)]);
                        }
                        // A constant the plan's parameter cannot read: the
                        // text raises its error.
                        Err(query_cache::Mismatch::Value) => {
                            return Ok(plain(self.prepare(sql, &[], session)?));
                        }
                        Err(query_cache::Mismatch::Fixed) => {}
                    }
                }
                None if entry.fixed_match(&lexed) => {
                    return Ok(plain(self.prepare(sql, &[], session)?));
                }
                _ => {}
            }
        }
        let statements = self.prepare(sql, &[], session)?;
        if let [original] = statements.as_slice() {
            if query_cache::cacheable(original) {
                let entry = self.cache_entry(sql, &lexed, original, session);
                session.query_cache.insert(lexed.key, entry);
            }
        }
        Ok(plain(statements))
    }

    async fn execute(
        &self,
        statement: &Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        let result = self
            .execute_named(statement, params, session)
            .await
            .map_err(|e| self.name_schema(e));
        if !query_cache::keeps_cache(statement) {
            session.query_cache.clear();
        }
        result
    }

    fn time_context(&self, session: &SessionState) -> tessera_types::datetime::TimeContext {
        session.time_context(self.cluster.wall_clock())
    }

    fn begin_implicit(&self, session: &mut SessionState) -> Result<()> {
        self.begin(session, None, None)?;
        if let Some(txn) = session.txn.as_mut() {
            txn.implicit = true;
        }
        Ok(())
    }

    async fn copy_rows(
        &self,
        statement: &Statement,
        rows: Vec<Vec<Value>>,
        session: &mut SessionState,
    ) -> Result<u64> {
        if session.txn.as_ref().is_some_and(|t| t.failed) {
            return Err(Error::new(
                sqlstate::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let catalog = self.catalog_of(session);
        let names = session.names();
        let time = session.time_context(self.cluster.wall_clock());
        // The table changed since the COPY was bound: bind it again, as
        // a statement is (its columns, which the client was told, must
        // not have changed).
        let rebound;
        let statement = if statement.catalog_version != catalog.version
            || statement.search_path != names.setting
        {
            rebound = Binder::new(&catalog, &[], time.clone())
                .with_names(names)
                .with_stats(self.cluster.table_stats())
                .bind(&statement.parsed, &statement.sql)?;
            if rebound.copy != statement.copy {
                return Err(
                    Error::unsupported("a COPY whose table changed while it ran")
                        .with_hint("Run the COPY again."),
                );
            }
            &rebound
        } else {
            statement
        };
        let Plan::CopyFrom { insert: plan } = &*statement.plan else {
            return Err(Error::internal(
                "rows sent to a statement that is not COPY FROM",
            ));
        };
        let Plan::Insert(insert) = &**plan else {
            return Err(Error::internal("COPY FROM without its INSERT"));
        };
        if self.cluster.in_cluster() && insert.table.global {
            self.join_globals(session)?;
        }
        let sequenced = statement.uses_sequences;
        let mut params = Params::new(vec![], time);
        if sequenced {
            session.sequences.begin_statement();
            params.sequences = Some(session.sequences.clone());
        }
        if statement.uses_settings {
            // Defaults of COPY's columns read settings; they write none.
            params.settings = Some(Arc::new(StatementSettings::new(setting_values(session))));
        }
        let rows = Rows::from_vecs(rows);
        let start = block_deps(session);
        let (result, deps) = with_statement_deps(
            start,
            self.insert(
                plan,
                insert,
                Some(&rows),
                Arc::new(params),
                sequenced,
                session,
            ),
        )
        .await;
        let result = match result {
            Ok((count, _)) => self.settle(session, deps, false).await.map(|()| count),
            Err(e) => Err(e),
        };
        if result.is_err() {
            if let Some(txn) = session.txn.as_mut() {
                txn.failed = true;
            }
        }
        result.map_err(|e| self.name_schema(e))
    }

    async fn end_implicit(&self, session: &mut SessionState, commit: bool) -> Result<()> {
        let start = block_deps(session);
        let (result, deps) = with_statement_deps(start, async {
            if commit {
                self.commit(session).await.map(|_| ())
            } else {
                self.rollback(session).await;
                Ok(())
            }
        })
        .await;
        result?;
        self.settle(session, deps, false).await
    }

    async fn fail_block(&self, session: &mut SessionState) {
        self.fail_session_block(session).await;
    }

    async fn end_session(&self, session: &mut SessionState) {
        if let Some(txn) = session.txn.take() {
            self.abort(txn).await;
        }
        if session.pid() != 0 {
            crate::advisory::locks().end_session(session.pid());
        }
    }
}

fn unknown_prepared(name: &str) -> Error {
    Error::new(
        sqlstate::INVALID_SQL_STATEMENT_NAME,
        format!("prepared statement \"{name}\" does not exist"),
    )
}

/// Binds `EXECUTE name (args)` against the session's statement `name`.
fn bind_execute(
    binder: Binder<'_>,
    parsed: &crate::parser::Parsed,
    sql: &str,
    session: &SessionState,
) -> Result<Statement> {
    let sqlparser::ast::Statement::Execute {
        name: Some(name),
        parameters,
        immediate: false,
        into,
        using,
        ..
    } = &parsed.statement
    else {
        return Err(Error::unsupported("this form of EXECUTE"));
    };
    if !into.is_empty() || !using.is_empty() || name.0.len() != 1 {
        return Err(Error::unsupported("this form of EXECUTE"));
    }
    let name = match name.0[0].as_ident() {
        Some(ident) => crate::binder::ident_name(ident),
        None => return Err(Error::unsupported("this form of EXECUTE")),
    };
    let prepared = session
        .prepared
        .get(&name)
        .ok_or_else(|| unknown_prepared(&name))?;
    let Some(statement) = prepared.statement.clone() else {
        return Err(Error::unsupported(format!(
            "EXECUTE of prepared statement \"{name}\" (an empty query, a COPY or an EXECUTE)"
        )));
    };
    binder.bind_execute(parsed, sql, name, parameters, statement)
}

/// EXPLAIN options that `EXPLAIN EXECUTE` accepts (and, like EXPLAIN,
/// ignores: Tessera's plans show neither costs nor timings).
const EXPLAIN_EXECUTE_OPTIONS: &[&str] = &[
    "verbose", "costs", "timing", "summary", "buffers", "settings", "wal",
];

/// `EXPLAIN EXECUTE name (args)`: the plan of the prepared statement (a
/// generic one: its parameters show as `$n`), once the arguments check.
fn explain_execute(
    binder: Binder<'_>,
    parsed: &crate::parser::Parsed,
    inner: &sqlparser::ast::Statement,
    sql: &str,
    session: &SessionState,
) -> Result<Statement> {
    let inner_parsed = crate::parser::Parsed {
        statement: inner.clone(),
        ..parsed.clone()
    };
    let execute = bind_execute(binder, &inner_parsed, sql, session)?;
    let Plan::Execute { statement, .. } = &*execute.plan else {
        return Err(Error::internal("EXECUTE without its plan"));
    };
    let prepared = statement.0.clone();
    Ok(Statement {
        sql: sql.to_string(),
        plan: Arc::new(Plan::Explain {
            plan: prepared.plan.clone(),
            init: prepared.init.clone(),
            analyze: false,
        }),
        init: vec![],
        columns: vec![crate::engine::ColumnDesc {
            name: "QUERY PLAN".into(),
            data_type: DataType::Text,
            table_oid: 0,
            column_id: 0,
        }],
        returns_rows: true,
        parsed: Arc::new(parsed.clone()),
        uses_sequences: false,
        uses_settings: false,
        advisory_waits: false,
        sleeps: false,
        reads_prepared: false,
        copy: None,
        ..execute
    })
}

/// What the session's open transaction block depends on so far.
fn block_deps(session: &SessionState) -> Positions {
    session
        .txn
        .as_ref()
        .map(|t| t.deps.clone())
        .unwrap_or_default()
}

impl<C: Cluster> Router<C> {
    /// After a statement: what it depends on stays with its transaction
    /// block; rows go to the client, and a transaction's end is
    /// acknowledged, only once all of it is durable (see
    /// `tessera_storage::deps`). A count inside a block does not wait: the
    /// block's commit will, and its records follow what it overwrote.
    async fn settle(
        &self,
        session: &mut SessionState,
        deps: Positions,
        answers: bool,
    ) -> Result<()> {
        match session.txn.as_mut() {
            Some(txn) if !answers => {
                txn.deps = deps;
                Ok(())
            }
            Some(txn) => {
                txn.deps = deps.clone();
                self.cluster.wait_durable(deps).await
            }
            None => self.cluster.wait_durable(deps).await,
        }
    }

    async fn execute_statement(
        &self,
        statement: &Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> Result<QueryResult> {
        let catalog = self.catalog_of(session);
        let time = session.time_context(self.cluster.wall_clock());
        let names = session.names();
        if statement.deferred {
            let bound = Binder::new(&catalog, &[], time)
                .with_names(names)
                .with_cursors(&session.cursors)
                .with_stats(self.cluster.table_stats())
                .with_prepared(&session.prepared)
                .bind(&statement.parsed, &statement.sql)?;
            let mut result = self.run(&bound, params, session).await?;
            if result.columns.is_none() {
                result.columns = Some(bound.columns);
            }
            return Ok(result);
        }
        if statement.catalog_version != catalog.version
            || statement.search_path != names.setting
            || statement.reads_prepared
            || statement.reads_cursors
        {
            // The schema or the search_path changed since PREPARE: bind
            // again, as PostgreSQL re-plans (and a read of the session's
            // prepared statements reads them as they are now).
            let given: Vec<Option<DataType>> =
                statement.param_types.iter().map(|t| Some(*t)).collect();
            let mut rebound = Binder::new(&catalog, &given, time)
                .with_names(names)
                .with_cursors(&session.cursors)
                .with_stats(self.cluster.table_stats())
                .with_prepared(&session.prepared)
                .bind(&statement.parsed, &statement.sql)?;
            if matches!(*rebound.plan, Plan::FetchCursor { .. }) {
                // Its cursor's columns, as the client was told them.
                rebound.columns = statement.columns.clone();
            }
            // What the client was told: names and types (the table a
            // column comes from may change with the search_path).
            let shape = |c: &[crate::engine::ColumnDesc]| -> Vec<(String, DataType)> {
                c.iter().map(|d| (d.name.clone(), d.data_type)).collect()
            };
            if shape(&rebound.columns) != shape(&statement.columns) {
                return Err(
                    Error::unsupported("a cached plan whose result type changed")
                        .with_hint("Prepare the statement again."),
                );
            }
            return self.run(&rebound, params, session).await;
        }
        self.run(statement, params, session).await
    }
}

/// The block a catalog change of `session` is made in: its transaction
/// block, once `begin_ddl` let the block change the catalog.
fn ddl_block(session: &SessionState) -> Block {
    session
        .txn
        .as_ref()
        .filter(|t| t.ddl)
        .map(|t| (t.id, t.current_savepoint()))
}

/// Whether altering `old` into `new` changes the shape of its stored rows:
/// columns added, or a column's type changed.
fn reshapes(old: &TableDef, new: &TableDef) -> bool {
    new.columns.len() > old.columns.len()
        || new
            .columns
            .iter()
            .zip(&old.columns)
            .any(|(n, o)| n.data_type != o.data_type)
}

/// The command a read-only transaction may not run (PostgreSQL's
/// `PreventCommandIfReadOnly`), by the name its error gives; `None` for
/// one it may.
/// How many times a statement that writes global tables runs when other
/// nodes keep changing its rows first.
const GLOBAL_WRITE_TRIES: u32 = 100;

/// How often a statement runs again because buckets moved under it.
const MOVED_RERUNS: u32 = 20;
/// How long a statement outside a block waits for a shard's new master
/// when its master cannot be reached (a failover takes a few seconds).
const MASTER_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Whether `statement` writes a global table (itself, or a data-modifying
/// WITH query of it).
fn writes_global(statement: &Statement) -> bool {
    fn global(plan: &Plan) -> bool {
        match plan {
            Plan::Insert(i) => i.table.global,
            Plan::Update(u) => u.table.global,
            Plan::Delete(d) => d.table.global,
            Plan::Truncate { deletes, .. } => deletes.iter().any(|d| global(d)),
            _ => false,
        }
    }
    global(&statement.plan) || statement.init.iter().any(|i| !i.dropped && global(&i.plan))
}

/// The verb of the first data-modifying WITH query among `init`.
fn init_writing_verb(init: &[InitPlan]) -> Option<&str> {
    init.iter()
        .filter(|i| !i.dropped)
        .find_map(|i| match &*i.plan {
            Plan::Insert(_) | Plan::Update(_) | Plan::Delete(_) => writing_verb(&i.plan),
            _ => None,
        })
}

fn writing_verb(plan: &Plan) -> Option<&str> {
    Some(match plan {
        Plan::Insert(_) => "INSERT",
        Plan::CopyFrom { .. } => "COPY FROM",
        Plan::Update(_) => "UPDATE",
        Plan::Delete(_) => "DELETE",
        Plan::CreateTable { .. } => "CREATE TABLE",
        Plan::CreateTableAs { .. } => "CREATE TABLE AS",
        Plan::CreateSequence { .. } => "CREATE SEQUENCE",
        Plan::CreateView { .. } => "CREATE VIEW",
        Plan::CreateIndex { .. } => "CREATE INDEX",
        Plan::AlterSequence { .. } => "ALTER SEQUENCE",
        Plan::Skipped { tag, .. } => tag,
        Plan::AlterTable(_) | Plan::RewriteTable { .. } => "ALTER TABLE",
        Plan::Drop { kind, .. } => match kind {
            Relation::Table => "DROP TABLE",
            Relation::Index => "DROP INDEX",
            Relation::Sequence => "DROP SEQUENCE",
            Relation::View => "DROP VIEW",
        },
        Plan::Truncate { .. } => "TRUNCATE TABLE",
        Plan::Comment { .. } => "COMMENT",
        Plan::CreateSchema { .. } => "CREATE SCHEMA",
        Plan::DropSchemas { .. } => "DROP SCHEMA",
        Plan::RenameSchema { .. } => "ALTER SCHEMA",
        Plan::RenameIndex { of_table: true, .. } => "ALTER TABLE",
        Plan::RenameIndex { .. } => "ALTER INDEX",
        Plan::Role(r) => r.tag(),
        Plan::Type(t) => t.tag(),
        Plan::Explain {
            plan,
            analyze: true,
            ..
        } => return writing_verb(plan),
        _ => return None,
    })
}

/// The tables a catalog change in a block must hold every other write to
/// until the block ends: those it alters or drops, those whose foreign
/// keys it drops, and those its new foreign keys reference.
fn ddl_tables(plan: &Plan, catalog: &Catalog) -> Vec<tessera_types::TableId> {
    let with_children = |ids: Vec<tessera_types::TableId>| {
        let mut all = ids.clone();
        for id in ids {
            all.extend(catalog.referencing(id).iter().map(|(child, _)| child.id));
        }
        all.sort_unstable();
        all.dedup();
        all
    };
    match plan {
        Plan::CreateTable { table, .. } => table.foreign_keys.iter().map(|fk| fk.parent).collect(),
        Plan::CreateIndex { index, .. } => vec![index.table],
        Plan::AlterTable(change) => {
            let mut ids = with_children(vec![change.table.id]);
            ids.extend(change.new.foreign_keys.iter().map(|fk| fk.parent));
            ids
        }
        // The rewrite is the block's: its copy of the rows is its writes,
        // the swap one of its catalog changes.
        Plan::RewriteTable { table, .. } => vec![table.id],
        Plan::Drop { kind, names, .. } => {
            let mut ids = Vec::new();
            for n in names {
                let Some(schema) = n.schema else { continue };
                match kind {
                    Relation::Table => ids.extend(catalog.table(schema, &n.name).map(|t| t.id)),
                    Relation::Index => ids.extend(catalog.index(schema, &n.name).map(|i| i.table)),
                    Relation::Sequence => ids.extend(
                        catalog
                            .sequence(schema, &n.name)
                            .and_then(|s| s.owned_by)
                            .map(|(t, _)| t),
                    ),
                    Relation::View => {}
                }
            }
            with_children(ids)
        }
        Plan::DropSchemas { names, .. } => {
            let schemas: Vec<_> = names.iter().filter_map(|n| catalog.schema(n)).collect();
            with_children(
                catalog
                    .tables()
                    .filter(|t| schemas.iter().any(|s| s.id == t.schema))
                    .map(|t| t.id)
                    .collect(),
            )
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::engine::QueryEngine;
    use crate::plan::Plan;

    #[test]
    fn merging_ordered_runs_keeps_the_order_by() {
        use crate::plan::SortKey;
        let run = |keys: &[(i32, &str)]| {
            Rows::from_vecs(
                keys.iter()
                    .map(|(k, v)| vec![Value::Int4(*k), Value::Text((*v).into())])
                    .collect(),
            )
        };
        let descending = [SortKey {
            column: 0,
            descending: true,
            nulls_first: true,
        }];
        let runs = vec![
            run(&[(9, "a"), (4, "b"), (1, "c")]),
            Rows::default(),
            run(&[(8, "d"), (7, "e"), (2, "f")]),
            run(&[(5, "g")]),
        ];
        assert!(runs.iter().all(|r| in_order(r, &descending)));
        let merged = merge_runs(runs, &descending);
        let keys: Vec<i32> = merged
            .iter()
            .map(|r| r[0].as_i64().unwrap() as i32)
            .collect();
        assert_eq!(keys, [9, 8, 7, 5, 4, 2, 1]);
        assert_eq!(merged.row(1)[1], Value::Text("d".into()));
        let ascending = [SortKey {
            column: 0,
            descending: false,
            nulls_first: false,
        }];
        assert!(!in_order(&merged, &ascending));
        assert_eq!(merge_runs(vec![Rows::default()], &ascending).len(), 0);
    }

    /// Shards that accept every prepare, and a coordinator whose decision
    /// record cannot be written (disk full).
    struct DecisionFails {
        catalog: Arc<Catalog>,
        log: RefCell<Vec<(ShardId, String)>>,
        tx: Cell<u64>,
    }

    impl Cluster for DecisionFails {
        fn local_shard(&self) -> ShardId {
            0
        }
        fn catalog(&self) -> Arc<Catalog> {
            self.catalog.clone()
        }
        async fn call(&self, shard: ShardId, request: ShardRequest) -> Result<ShardResponse> {
            let entry = match &request {
                ShardRequest::Insert { mode, rows, .. } => {
                    format!("insert {} rows mode={mode:?}", rows.len())
                }
                ShardRequest::Decide { commit, .. } => format!("decide {commit}"),
                ShardRequest::Resolve { commit, .. } => format!("resolve {commit}"),
                other => format!("{other:?}"),
            };
            self.log.borrow_mut().push((shard, entry));
            match request {
                ShardRequest::Insert { rows, .. } => Ok(ShardResponse::Count(rows.len() as u64)),
                ShardRequest::Decide { .. } => {
                    Err(Error::new(sqlstate::DISK_FULL, "could not extend the WAL"))
                }
                _ => Ok(ShardResponse::Done(vec![])),
            }
        }
        fn next_row_id(&self) -> u64 {
            0
        }
        fn next_tx(&self) -> TxId {
            self.tx.set(self.tx.get() + 1);
            self.tx.get()
        }
        fn begin_read(&self) -> (Timestamp, Timestamp) {
            (self.tick(), self.tick())
        }
        fn end_read(&self, _: Timestamp) {}
        fn tick(&self) -> Timestamp {
            self.tx.set(self.tx.get() + 1);
            self.tx.get()
        }
    }

    #[test]
    fn a_decision_that_cannot_be_made_durable_aborts_every_participant() {
        let table = crate::parser::parse("CREATE TABLE t (id int PRIMARY KEY, v text)").unwrap();
        let empty = Catalog::new(3000, 2);
        let created = crate::binder::Binder::new(&empty, &[], Default::default())
            .bind(&table[0], "")
            .unwrap();
        let Plan::CreateTable { table, .. } = &*created.plan else {
            panic!("not a CREATE TABLE plan")
        };
        let (catalog, _) = empty.with_table(table.clone());
        let cluster = DecisionFails {
            catalog: Arc::new(catalog),
            log: RefCell::new(vec![]),
            tx: Cell::new(0),
        };
        let router = Router::new(cluster);
        let values: Vec<String> = (1..=20).map(|i| format!("({i}, 'x')")).collect();
        let sql = format!("INSERT INTO t VALUES {}", values.join(", "));
        let statement = router
            .prepare(&sql, &[], &SessionState::default())
            .unwrap()
            .remove(0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let err = rt
            .block_on(router.execute(&statement, vec![], &mut SessionState::default()))
            .expect_err("the statement fails");
        assert_eq!(err.code, sqlstate::DISK_FULL);
        let log = router.cluster().log.borrow();
        let prepared: HashSet<ShardId> = log
            .iter()
            .filter(|(_, e)| e.starts_with("insert") && e.contains("Prepare"))
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(
            prepared.len(),
            2,
            "twenty keys land on both shards: {log:?}"
        );
        for shard in &prepared {
            assert!(
                log.contains(&(*shard, "resolve false".to_string())),
                "shard {shard} aborted: {log:?}"
            );
        }
        assert!(!log.iter().any(|(_, e)| e == "resolve true"), "{log:?}");
    }
}
