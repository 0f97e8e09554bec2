//! Starting and stopping a node: check the data directory, recover every
//! shard, start one pinned thread per shard, listen, and shut down on request.
//!
//! Each shard also runs two background tasks: garbage collection of row
//! versions, and checkpoints, taken when the shard has written
//! [`NodeConfig::checkpoint_wal_size_bytes`] of log since its last one or
//! when [`NodeConfig::checkpoint_interval`] has passed with anything
//! written (see `tessera_storage::checkpoint`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A shard thread's stack. Queries are trees (joins of many tables, deep
/// expressions, nested subqueries) that binding and execution walk
/// recursively; only the pages touched are ever committed.
const SHARD_STACK_BYTES: usize = 64 << 20;

use tessera_sql::router::{Cluster, Router};
use tessera_sql::shard::{CatalogCell, LockWaits, ShardContext, ShardRequest, SharedCatalog};
use tessera_storage::checkpoint::{wal_dir, write_checkpoint, Published};
use tessera_storage::file::{FileSystem, OsFileSystem};
use tessera_storage::recovery::{self, RecoveredShard};
use tessera_storage::wal::{WAL_PREALLOCATE_BYTES, WAL_SEGMENT_BYTES_MAX};
use tessera_storage::{LogDeps, Timeline, TwoPhaseLedger, WalWriter};
use tessera_types::schema::{ShardId, BUCKET_COUNT_DEFAULT};
use tessera_types::{sqlstate, Catalog, Error, Result};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, watch};

use crate::clients::{ClientStream, Handed, Placed, Spread, UnixSocketFile};
use crate::meta::{Meta, FORMAT_VERSION};
use crate::transport::{
    id_sequence, Envelope, IdLease, IdSource, IssuedIds, Mailboxes, ShardCluster, MAILBOX_CAPACITY,
};

/// How often a shard looks for row versions to collect.
pub const GC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// How long a prepared move of buckets waits for its decision before its
/// participant appends an abort (docs/CLUSTER.md §8).
const MOVE_ORPHAN_AFTER_MICROS: u64 = 10_000_000;
/// Keys a shard prunes before it yields to other work.
pub const GC_KEYS_PER_PASS: usize = 1024;

/// How often a shard checks whether a checkpoint is due (and which of its
/// `Resolve` records became durable).
pub const CHECKPOINT_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// The default of [`NodeConfig::checkpoint_wal_size_bytes`].
pub const CHECKPOINT_WAL_SIZE_DEFAULT: u64 = 64 << 20;
/// The smallest [`NodeConfig::checkpoint_wal_size_bytes`] accepted: below
/// it a shard would do little but checkpoint.
pub const CHECKPOINT_WAL_SIZE_MIN: u64 = 64 << 10;
/// The default of [`NodeConfig::checkpoint_interval`].
pub const CHECKPOINT_INTERVAL_DEFAULT: std::time::Duration = std::time::Duration::from_secs(300);

/// The catalog log changes rarely; it grows in small steps.
pub const CATALOG_WAL_PREALLOCATE_BYTES: u64 = 1 << 20;

/// Connections one shard accepts backlog for in the kernel.
pub const LISTEN_BACKLOG: u32 = 1024;

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub pg_listen: SocketAddr,
    /// The directory of the Unix-domain socket clients on this machine may
    /// use (`.s.PGSQL.<port>` in it, PostgreSQL's
    /// `unix_socket_directories`); `None`: TCP only.
    pub pg_socket_dir: Option<PathBuf>,
    pub shards: u16,
    /// Used only when the data directory is created.
    pub bucket_count: u32,
    /// Client connections the node serves at once; the next one is told
    /// 53300 "sorry, too many clients already" and closed.
    pub max_connections: usize,
    /// Bytes of rows one shard may hold; writes past it fail with 53200.
    pub shard_memory_limit_bytes: usize,
    /// A shard checkpoints once it has written this many bytes of log
    /// since its last checkpoint (at least [`CHECKPOINT_WAL_SIZE_MIN`]).
    pub checkpoint_wal_size_bytes: u64,
    /// ... or once this long has passed since, if it wrote anything.
    pub checkpoint_interval: std::time::Duration,
    /// The administrator created when the catalog has no role at all (a
    /// new data directory, or one from before roles existed); its password
    /// already hashed.
    pub bootstrap_role: Option<tessera_types::RoleDef>,
    /// In a cluster: the cluster's catalog log, in place of `catalog.wal`.
    pub cluster_catalog: Option<ClusterCatalog>,
    /// In a cluster: the node's place among the cluster's shards.
    pub cluster_shards: Option<ClusterShards>,
    /// The data directory's lock, if the caller took it already
    /// ([`lock_data_dir`]): a node in a cluster takes it before its
    /// cluster service starts, so a second process on the directory never
    /// speaks for the node.
    pub data_dir_lock: Option<Arc<std::fs::File>>,
}

/// A node's shards in a cluster (docs/CLUSTER.md step 3).
#[derive(Clone)]
pub struct ClusterShards {
    /// The cluster-wide number of the node's shard 0.
    pub first_shard: ShardId,
    /// Where the node's id lease ended before it started: its shards hand
    /// out sequence numbers from here on (see `transport::IdLease`).
    pub ids_from: u64,
    /// The lease it took at start-up.
    pub lease_end: u64,
    /// The sequence numbers its slot in its replica group may hand out
    /// (`tessera_cluster::state::slot_ids`): ids found in its logs past
    /// them are another member's.
    pub slot_ids: std::ops::Range<u64>,
    pub lease_source: Arc<dyn crate::transport::IdLeaseSource>,
    /// The bucket map of the metadata tables, by cluster-wide shard number.
    pub buckets: Arc<[ShardId]>,
    /// The tier of those buckets: the cluster founder's.
    pub first_tier: String,
    /// Runs requests on other nodes' shards.
    pub remote: Arc<dyn crate::transport::RemoteShardCalls>,
}

impl std::fmt::Debug for ClusterShards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClusterShards(first {}, ids {}..{})",
            self.first_shard, self.ids_from, self.lease_end
        )
    }
}

/// The catalog of a node in a cluster (docs/CLUSTER.md step 2).
#[derive(Clone)]
pub struct ClusterCatalog {
    pub log: Arc<dyn SharedCatalog>,
    /// The records committed when the node starts (after its fence, so
    /// every record it ever had committed is among them).
    pub records: Arc<Vec<Vec<u8>>>,
    /// Give buckets of the node's shards to shards that own fewer
    /// (`--rebalance`).
    pub rebalance: bool,
}

impl std::fmt::Debug for ClusterCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterCatalog({} records)", self.records.len())
    }
}

/// The default of [`NodeConfig::max_connections`].
pub const MAX_CONNECTIONS_DEFAULT: usize = 1000;

impl NodeConfig {
    pub fn new(data_dir: PathBuf, pg_listen: SocketAddr, shards: u16) -> NodeConfig {
        NodeConfig {
            data_dir,
            pg_listen,
            pg_socket_dir: None,
            shards,
            bucket_count: BUCKET_COUNT_DEFAULT,
            max_connections: MAX_CONNECTIONS_DEFAULT,
            shard_memory_limit_bytes: usize::MAX,
            checkpoint_wal_size_bytes: CHECKPOINT_WAL_SIZE_DEFAULT,
            checkpoint_interval: CHECKPOINT_INTERVAL_DEFAULT,
            bootstrap_role: None,
            cluster_catalog: None,
            cluster_shards: None,
            data_dir_lock: None,
        }
    }
}

/// Creates the data directory if it is missing and takes its lock, held
/// while the returned file is open; refused while another process holds
/// it.
pub fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(&format!("creating the data directory {}", dir.display()), e))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .map_err(|e| Error::io("opening the data directory lock", e))?;
    if lock.try_lock().is_err() {
        return Err(Error::new(
            sqlstate::INSUFFICIENT_RESOURCES,
            format!(
                "the data directory {} is in use by another tessera process",
                dir.display()
            ),
        ));
    }
    Ok(lock)
}

/// Serves one accepted client connection on a shard's thread: with the
/// router and a process id, or, when the node is full, only to tell the
/// client why it is refused.
pub type ConnectionHandler = Arc<
    dyn Fn(ClientStream, Rc<Router<ShardCluster>>, Admission) -> Pin<Box<dyn Future<Output = ()>>>
        + Send
        + Sync,
>;

pub enum Admission {
    Admitted { process_id: u32 },
    Refused(Error),
}

/// Holds one slot of the node's connection limit until dropped.
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running node.
pub struct NodeHandle {
    shutdown: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    pub shards: u16,
    pub pg_listen: SocketAddr,
    /// The Unix socket, removed at shutdown.
    pub pg_socket: Option<UnixSocketFile>,
    /// Runs shard requests from other nodes on this node's shards.
    pub remote_shards: crate::transport::RemoteShards,
}

impl NodeHandle {
    /// Stops accepting, flushes every WAL, and joins the shard threads.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn decode_row_id(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes) ^ (1 << 63))
}

/// Starts a node and returns once every shard listens.
pub fn run_node(mut config: NodeConfig, handler: ConnectionHandler) -> Result<NodeHandle> {
    let lock = match config.data_dir_lock.take() {
        Some(lock) => lock,
        None => Arc::new(lock_data_dir(&config.data_dir)?),
    };
    let fresh = Meta {
        format_version: FORMAT_VERSION,
        bucket_count: config.bucket_count,
        shard_count: config.shards,
    };
    let (meta, created) = Meta::load_or_create(&config.data_dir, fresh)?;
    if meta.shard_count != config.shards {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!(
                "the data directory {} holds {} shards, but {} were asked for; moving buckets between shards comes with rebalancing, so start with --shards {}",
                config.data_dir.display(),
                meta.shard_count,
                config.shards,
                meta.shard_count
            ),
        ));
    }
    if created {
        tracing::info!(
            "created data directory {} ({} shards, {} buckets)",
            config.data_dir.display(),
            meta.shard_count,
            meta.bucket_count
        );
    }
    // Shards share the port through SO_REUSEPORT, which would also let a
    // second process (another node, a stale test) join the group and take
    // half the connections. A plain bind fails on any listener already
    // there, as PostgreSQL's does.
    if let Err(e) = std::net::TcpListener::bind(config.pg_listen) {
        return Err(Error::new(
            sqlstate::INSUFFICIENT_RESOURCES,
            format!(
                "cannot listen on {}: {e} (is another tessera or PostgreSQL running there?)",
                config.pg_listen
            ),
        ));
    }
    let pg_socket = match &config.pg_socket_dir {
        Some(dir) => Some(UnixSocketFile::bind(dir, config.pg_listen.port())?),
        None => None,
    };
    if config.checkpoint_wal_size_bytes < CHECKPOINT_WAL_SIZE_MIN
        || config.checkpoint_interval.is_zero()
    {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!(
                "checkpoints need at least {CHECKPOINT_WAL_SIZE_MIN} bytes of log and a non-zero interval between them"
            ),
        ));
    }
    // In a cluster, buckets belong to shards anywhere in it.
    let base = match &config.cluster_shards {
        Some(c) => Catalog::with_tier_buckets(c.buckets.clone(), &c.first_tier),
        None => Catalog::new(meta.bucket_count, meta.shard_count),
    };
    recovery::migrate_single_file_logs(&config.data_dir, meta.shard_count)?;
    let fs: Arc<dyn FileSystem> = Arc::new(OsFileSystem);
    // A replica's install of its master's checkpoint that a crash
    // interrupted (docs/CLUSTER.md §5).
    for shard in 0..meta.shard_count {
        tessera_storage::checkpoint::resume_install(
            &*fs,
            &recovery::shard_dir(&config.data_dir, shard),
        )?;
    }
    let source = match &config.cluster_catalog {
        Some(c) => recovery::CatalogSource::Records(&c.records),
        None => recovery::CatalogSource::File,
    };
    let first_shard = config.cluster_shards.as_ref().map_or(0, |c| c.first_shard);
    // Shards whose master is another member of the node's replica group.
    let replicas: Vec<ShardId> = match &config.cluster_shards {
        Some(c) => (0..meta.shard_count)
            .filter(|i| !c.remote.serves_here(*i))
            .collect(),
        None => vec![],
    };
    let recover = || {
        recovery::recover_with(
            &*fs,
            &config.data_dir,
            base.clone(),
            (first_shard, meta.shard_count),
            source,
            &replicas,
        )
    };
    let mut recovered = recover()?;
    // An old master's copy that reaches past where a later master began
    // holds records no master has now (its unreplicated tail): it is
    // dropped and copied again from the master (docs/CLUSTER.md §6).
    let mut log_epochs = Vec::with_capacity(meta.shard_count as usize);
    for shard in &recovered.shards {
        log_epochs.push(tessera_storage::checkpoint::read_log_epoch(
            &*fs, &shard.dir,
        )?);
    }
    let mut dropped = false;
    if let Some(c) = &config.cluster_catalog {
        for &index in &replicas {
            let shard = &recovered.shards[index as usize];
            let Some(fork) = c.log.fork_after(index, log_epochs[index as usize]) else {
                continue;
            };
            if shard.wal_end > fork {
                tracing::warn!(
                    "shard {}: its log reaches position {}, past {fork} where a later master's writes began; the {} bytes after it were never copied to that master, so this copy is dropped and copied again from the master",
                    first_shard + index,
                    shard.wal_end,
                    shard.wal_end - fork
                );
                tessera_storage::checkpoint::discard_shard(&*fs, &shard.dir)?;
                dropped = true;
            }
        }
    }
    if dropped {
        recovered = recover()?;
    }

    // Ids continue after the largest found anywhere in the node.
    let mut max_row_id = recovered.max_row_id;
    for shard in &recovered.shards {
        for table in recovered.catalog.tables().filter(|t| t.has_row_id()) {
            if let Some(key) = shard.store.table(table.id).and_then(|t| t.last_key()) {
                max_row_id = max_row_id.max(decode_row_id(key).unwrap_or(0));
            }
        }
    }
    // In a cluster, past the lease's start; ids of another member of the
    // replica group (whose log this node's holds) do not count.
    let (lease_start, slot_end) = config
        .cluster_shards
        .as_ref()
        .map_or((0, u64::MAX), |c| (c.ids_from, c.slot_ids.end));
    let after = |id: u64| {
        let next = id_sequence(id) + 1;
        if next > slot_end { 0 } else { next }.max(lease_start)
    };
    let first_row_seq = after(max_row_id);
    let first_tx_seq = after(recovered.max_tx);
    let lease = config
        .cluster_shards
        .as_ref()
        .map(|c| Arc::new(IdLease::new(c.lease_end)));

    let catalog_cell = Arc::new(CatalogCell::new(recovered.catalog.clone()));
    let timeline = Arc::new(match config.cluster_shards {
        Some(_) => Timeline::for_cluster(meta.shard_count as usize),
        None => Timeline::new(meta.shard_count as usize),
    });
    let lock_waits = Arc::new(LockWaits::default());
    let ledger = Arc::new(TwoPhaseLedger::default());
    // Commits decided here before the restart whose participants on other
    // nodes have not reported: held until they do (docs/CLUSTER.md §4).
    let node = first_shard..first_shard + meta.shard_count;
    // On a replica, also the commits whose copied `Resolve` some of
    // them lack: the promoted replica would settle from them
    // (docs/CLUSTER.md §5).
    for open in &recovered.open_decisions {
        let spans = open.participants.iter().any(|p| !node.contains(p));
        ledger.decided(
            open.tx,
            open.coordinator,
            true,
            open.ts,
            &open.participants,
            spans,
        );
        if open.copied {
            continue;
        }
        for p in open.participants.iter().filter(|p| node.contains(p)) {
            ledger.settled(open.tx, *p);
        }
    }
    for (tx, shard) in &recovered.copied_resolves {
        ledger.copied_resolve(*tx, *shard);
    }
    let stats = Arc::new(tessera_sql::stats::TableStats::default());
    tessera_sql::stats::install_node_stats(stats.clone());
    let log_deps = Arc::new(LogDeps::new(meta.shard_count as usize));
    let issued = Arc::new(IssuedIds::new(
        meta.shard_count as usize,
        recovered.max_tx,
        max_row_id,
    ));
    // Set once every shard has made its start-up resolutions durable;
    // checkpoints wait for it (see `tessera_storage::ledger`).
    let (node_ready, node_ready_rx) = watch::channel(false);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..meta.shard_count {
        let (tx, rx) = mpsc::channel::<Envelope>(MAILBOX_CAPACITY);
        senders.push(tx);
        receivers.push(rx);
    }
    let mailboxes: Mailboxes = senders.into();
    let remote_mailboxes = mailboxes.clone();
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
    let mut threads = Vec::new();
    let mut catalog_wal = Some((
        recovered.catalog_wal_path.clone(),
        recovered.catalog_wal_len,
    ));
    let _lock = lock;
    let connections = Arc::new(AtomicUsize::new(0));
    let (spread, handoffs) = Spread::new(meta.shard_count as usize);
    for ((shard, (recovered_shard, mailbox)), handoff) in recovered
        .shards
        .into_iter()
        .zip(receivers)
        .enumerate()
        .zip(handoffs)
    {
        let shard = shard as ShardId;
        let core = if cores.is_empty() {
            None
        } else {
            Some(cores[shard as usize % cores.len()])
        };
        let catalog_wal = if shard == 0 { catalog_wal.take() } else { None };
        let args = ShardArgs {
            shard,
            recovered: recovered_shard,
            log_epoch: log_epochs[shard as usize],
            catalog_wal,
            cluster_catalog: config.cluster_catalog.clone().filter(|_| shard == 0),
            replica_sets: config.cluster_catalog.as_ref().map(|c| c.log.clone()),
            catalog_cell: catalog_cell.clone(),
            timeline: timeline.clone(),
            lock_waits: lock_waits.clone(),
            mailboxes: mailboxes.clone(),
            mailbox,
            pg_listen: config.pg_listen,
            pg_socket: match &pg_socket {
                Some(socket) => Some(socket.listener()?),
                None => None,
            },
            spread: spread.clone(),
            handoff,
            handler: handler.clone(),
            shutdown: shutdown_rx.clone(),
            first_shard,
            remote: config.cluster_shards.as_ref().map(|c| c.remote.clone()),
            ids: IdSource {
                first_row_seq,
                first_tx_seq,
                issued: issued.clone(),
                lease: lease.clone(),
            },
            lease_source: config
                .cluster_shards
                .as_ref()
                .filter(|_| shard == 0)
                .map(|c| c.lease_source.clone()),
            lock: _lock.clone(),
            connections: connections.clone(),
            max_connections: config.max_connections,
            shard_memory_limit_bytes: config.shard_memory_limit_bytes,
            fs: fs.clone(),
            ledger: ledger.clone(),
            stats: stats.clone(),
            log_deps: log_deps.clone(),
            issued: issued.clone(),
            node_ready: node_ready_rx.clone(),
            checkpoint_wal_size_bytes: config.checkpoint_wal_size_bytes,
            checkpoint_interval: config.checkpoint_interval,
            bootstrap_role: if shard == 0 {
                config.bootstrap_role.clone()
            } else {
                None
            },
        };
        let ready = ready_tx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("shard-{shard}"))
            .stack_size(SHARD_STACK_BYTES)
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                run_shard(args, ready);
            })
            .map_err(|e| Error::io("starting a shard thread", e))?;
        threads.push(thread);
    }
    drop(ready_tx);
    for _ in 0..meta.shard_count {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = shutdown.send(true);
                return Err(e);
            }
            Err(_) => return Err(Error::internal("a shard thread died while starting")),
        }
    }
    let _ = node_ready.send(true);
    Ok(NodeHandle {
        shutdown,
        threads,
        shards: meta.shard_count,
        pg_listen: config.pg_listen,
        pg_socket,
        remote_shards: crate::transport::RemoteShards::new(
            remote_mailboxes,
            first_shard,
            log_deps,
            timeline,
            config.cluster_shards.as_ref().map(|c| c.remote.clone()),
        ),
    })
}

struct ShardArgs {
    shard: ShardId,
    recovered: RecoveredShard,
    /// The epoch of the master whose records its log ends with.
    log_epoch: u64,
    catalog_wal: Option<(PathBuf, u64)>,
    cluster_catalog: Option<ClusterCatalog>,
    /// In a cluster (every shard): which shards this node is master of.
    replica_sets: Option<Arc<dyn SharedCatalog>>,
    catalog_cell: Arc<CatalogCell>,
    timeline: Arc<Timeline>,
    lock_waits: Arc<LockWaits>,
    mailboxes: Mailboxes,
    mailbox: mpsc::Receiver<Envelope>,
    pg_listen: SocketAddr,
    pg_socket: Option<std::os::unix::net::UnixListener>,
    spread: Arc<Spread>,
    handoff: mpsc::UnboundedReceiver<Handed>,
    handler: ConnectionHandler,
    shutdown: watch::Receiver<bool>,
    first_shard: ShardId,
    remote: Option<Arc<dyn crate::transport::RemoteShardCalls>>,
    ids: IdSource,
    /// Shard 0 runs the task that extends the node's id lease from it.
    lease_source: Option<Arc<dyn crate::transport::IdLeaseSource>>,
    /// Holds the data directory lock for as long as any shard runs.
    lock: Arc<std::fs::File>,
    /// Live client connections in the node.
    connections: Arc<AtomicUsize>,
    max_connections: usize,
    shard_memory_limit_bytes: usize,
    fs: Arc<dyn FileSystem>,
    ledger: Arc<TwoPhaseLedger>,
    stats: Arc<tessera_sql::stats::TableStats>,
    log_deps: Arc<LogDeps>,
    issued: Arc<IssuedIds>,
    node_ready: watch::Receiver<bool>,
    checkpoint_wal_size_bytes: u64,
    checkpoint_interval: std::time::Duration,
    bootstrap_role: Option<tessera_types::RoleDef>,
}

fn run_shard(args: ShardArgs, ready: std::sync::mpsc::Sender<Result<()>>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(Error::io("starting a shard runtime", e)));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        if let Err(e) = serve_shard(args, &ready).await {
            let _ = ready.send(Err(e));
        }
    });
}

fn listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn serve_shard(args: ShardArgs, ready: &std::sync::mpsc::Sender<Result<()>>) -> Result<()> {
    let ShardArgs {
        shard,
        recovered,
        log_epoch,
        catalog_wal,
        cluster_catalog,
        replica_sets,
        catalog_cell,
        timeline,
        lock_waits,
        mailboxes,
        mut mailbox,
        pg_listen,
        pg_socket,
        spread,
        mut handoff,
        handler,
        mut shutdown,
        first_shard,
        remote,
        ids,
        lease_source,
        lock: _lock,
        connections,
        max_connections,
        shard_memory_limit_bytes,
        fs,
        ledger,
        stats,
        log_deps,
        issued,
        node_ready,
        checkpoint_wal_size_bytes,
        checkpoint_interval,
        bootstrap_role,
    } = args;
    // Segments are started at each checkpoint, so zero-filling far past
    // the checkpoint distance would only write zeros to be removed.
    let wal = WalWriter::open_segments(
        fs.clone(),
        &wal_dir(&recovered.dir),
        recovered.wal_end,
        &format!("shard-{shard}"),
        WAL_PREALLOCATE_BYTES.min(checkpoint_wal_size_bytes),
        WAL_SEGMENT_BYTES_MAX,
    )?;
    // A replicated shard keeps its latest records for its replicas, from
    // before anything is appended.
    if replica_sets
        .as_ref()
        .is_some_and(|r| r.replication_factor() > 1)
    {
        wal.enable_feed();
    }
    // A replica's log takes only its master's records: what recovery left
    // open there is the master's to settle.
    let replica = remote.as_ref().is_some_and(|r| !r.serves_here(shard));
    if !replica {
        for record in &recovered.resolutions {
            wal.append_durable(&record.encode()).await?;
        }
    }
    let catalog_log = match catalog_wal {
        Some((path, len)) => Some(WalWriter::open(
            &path,
            len,
            "catalog",
            CATALOG_WAL_PREALLOCATE_BYTES,
        )?),
        None => None,
    };
    let node_shards = mailboxes.len() as ShardId;
    let mut ctx = ShardContext::new(
        shard,
        recovered.store,
        wal,
        catalog_cell,
        catalog_log,
        timeline,
    )
    .with_node_shards(first_shard, node_shards)
    .with_memory_limit(shard_memory_limit_bytes)
    .with_lock_waits(lock_waits)
    .with_ledger(ledger)
    .with_stats(stats)
    .with_deps(log_deps)
    .with_log_files(fs.clone(), wal_dir(&recovered.dir))
    .with_log_epoch(log_epoch);
    if let Some(r) = replica_sets {
        ctx = ctx.with_replica_sets(r);
    }
    if let Some(c) = &cluster_catalog {
        ctx = ctx.with_shared_catalog(c.log.clone(), c.records.len() as u64);
    }
    ctx.restore_in_doubt(match replica {
        true => recovered.copied_prepares,
        false => recovered.in_doubt,
    });
    let ctx = Rc::new(ctx);
    if cluster_catalog.is_some() {
        tokio::task::spawn_local(ctx.clone().follow_shared_catalog());
    }
    if let (Some(lease), Some(source)) = (&ids.lease, lease_source) {
        tokio::task::spawn_local(lease.clone().keep_extended(source));
    }
    let router = Rc::new(Router::new(ShardCluster::new(
        ctx.clone(),
        mailboxes,
        first_shard,
        ids,
        remote,
    )));
    if router.cluster().in_cluster() {
        tokio::task::spawn_local(ctx.clone().settle_across_nodes(router.clone()));
        tokio::task::spawn_local(ctx.clone().detect_deadlocks_across_nodes(router.clone()));
        tokio::task::spawn_local(ctx.clone().follow_master(router.clone()));
    }
    if let Some(c) = &cluster_catalog {
        // Draining moves happen also without --rebalance.
        tokio::task::spawn_local(ctx.clone().balance_buckets(router.clone(), c.rebalance));
    }
    if let Some(role) = bootstrap_role {
        let name = role.name.clone();
        let with_password = role.password.is_some();
        if ctx.bootstrap_role(role).await? {
            tracing::info!(
                "created the administrator role \"{name}\" ({})",
                if with_password {
                    "with the password given"
                } else {
                    "without a password: it can log in only where the rules trust it"
                }
            );
        }
    }
    let listener =
        listener(pg_listen).map_err(|e| Error::io(&format!("listening on {pg_listen}"), e))?;
    let _ = ready.send(Ok(()));

    // Records published early reach the disk without anyone on this
    // shard waiting for them.
    let flusher = ctx.clone();
    tokio::task::spawn_local(async move { flusher.run_flusher().await });

    // Old row versions no statement can see any more; then the row
    // counts, and the columns of tables that changed enough since their
    // last analysis (see `tessera_sql::shard` `analyze`).
    let gc_ctx = ctx.clone();
    let gc_router = router.clone();
    tokio::task::spawn_local(async move {
        loop {
            tokio::time::sleep(GC_INTERVAL).await;
            gc_ctx.timeline().sweep_remote_floors();
            // Moves of buckets whose decision did not come: an abort goes
            // to the catalog's log, and whichever comes first decides.
            for tx in gc_ctx.settle_catalog_decided(MOVE_ORPHAN_AFTER_MICROS) {
                let home = gc_router.cluster().home_shard();
                let abort = ShardRequest::AbortInCatalog { tx };
                if let Err(e) = gc_router.cluster().call(home, abort).await {
                    tracing::warn!("aborting move {tx}: {e}");
                }
            }
            // Passes continue while they make progress; versions a running
            // statement still needs wait for a later interval.
            let mut left = usize::MAX;
            loop {
                let now_left = gc_ctx.collect_garbage(GC_KEYS_PER_PASS);
                if now_left == 0 || now_left >= left {
                    break;
                }
                left = now_left;
                tokio::task::yield_now().await;
            }
            gc_ctx.publish_stats();
            gc_ctx.auto_analyze().await;
        }
    });

    let node_ready_for_accept = node_ready.clone();
    tokio::task::spawn_local(checkpoints(
        ctx.clone(),
        fs,
        recovered.dir.clone(),
        issued,
        node_ready,
        recovered.replay_start,
        checkpoint_wal_size_bytes,
        checkpoint_interval,
    ));

    // Requests from other shards' routers.
    let serve_ctx = ctx.clone();
    tokio::task::spawn_local(async move {
        while let Some(envelope) = mailbox.recv().await {
            let ctx = serve_ctx.clone();
            tokio::task::spawn_local(async move {
                let served = tessera_types::interrupt::Interruptible::new(
                    ctx.serve(envelope.request),
                    envelope.interrupt,
                );
                let _ = envelope.reply.send(served.await);
            });
        }
    });

    // Clients wait in the listen backlog until every shard is up (the
    // administrator role of a new node exists by then).
    let mut all_ready = node_ready_for_accept;
    if all_ready.wait_for(|ready| *ready).await.is_err() {
        return Ok(());
    }
    let unix = match pg_socket {
        Some(l) => Some(
            tokio::net::UnixListener::from_std(l)
                .map_err(|e| Error::io("listening on the Unix socket", e))?,
        ),
        None => None,
    };
    let connection_seq = std::cell::Cell::new(0u32);
    let serve = |stream: ClientStream, served| {
        connection_seq.set(connection_seq.get().wrapping_add(1));
        let process_id = ((shard as u32) << 22) | (connection_seq.get() & 0x3F_FFFF);
        let slot = ConnectionSlot(connections.clone());
        let admission = if connections.fetch_add(1, Ordering::AcqRel) < max_connections {
            Admission::Admitted { process_id }
        } else {
            Admission::Refused(Error::new(
                sqlstate::TOO_MANY_CONNECTIONS,
                "sorry, too many clients already",
            ))
        };
        let serve = handler(stream, router.clone(), admission);
        tokio::task::spawn_local(async move {
            serve.await;
            drop((slot, served));
        });
    };
    let place = |stream: ClientStream| {
        if let Placed::Here(stream, served) = spread.place(shard as usize, stream) {
            serve(stream, served);
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    place(ClientStream::Tcp(stream));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!("shard {shard}: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            accepted = async { unix.as_ref().expect("guarded").accept().await }, if unix.is_some() => match accepted {
                Ok((stream, _peer)) => place(ClientStream::Unix(stream)),
                Err(e) => {
                    tracing::warn!("shard {shard}: accept on the Unix socket failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some((moved, served)) = handoff.recv() => match moved.into_tokio() {
                Ok(stream) => serve(stream, served),
                Err(e) => tracing::warn!("shard {shard}: taking over a connection failed: {e}"),
            },
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    if let Err(e) = ctx.save_sequences().await {
        tracing::warn!("shard {shard}: could not save the sequences at shutdown: {e}");
    }
    // Make whatever is pending in the WAL durable before the thread ends.
    if let Err(e) = ctx.wal.flush().await {
        tracing::error!("shard {shard}: could not flush the WAL at shutdown: {e}");
    }
    Ok(())
}

/// The shard's checkpoint loop: a checkpoint once
/// `wal_size_bytes` of log were written since the last one, or `interval`
/// passed with anything written. A failed checkpoint is logged and tried
/// again after as much log or time again.
#[allow(clippy::too_many_arguments)]
async fn checkpoints(
    ctx: Rc<ShardContext>,
    fs: Arc<dyn FileSystem>,
    shard_dir: PathBuf,
    issued: Arc<IssuedIds>,
    mut node_ready: watch::Receiver<bool>,
    replay_start: u64,
    wal_size_bytes: u64,
    interval: std::time::Duration,
) {
    // Evidence from before the start may be dropped only once every shard's
    // start-up resolutions are durable (see `tessera_storage::ledger`).
    if node_ready.wait_for(|ready| *ready).await.is_err() {
        return;
    }
    let shard = ctx.shard;
    let requests = ctx.checkpoint_requests();
    requests.serve();
    let mut since_lsn = replay_start;
    let mut since = std::time::Instant::now();
    loop {
        // A CHECKPOINT statement's request, answered by the next checkpoint.
        let asked = tokio::select! {
            () = tokio::time::sleep(CHECKPOINT_POLL_INTERVAL) => None,
            n = requests.requested() => Some(n),
        };
        // Records nobody waits for (participants' `Resolve`) reach the disk
        // at the latest here.
        ctx.wal.start_flush();
        ctx.settle_durable_resolves();
        let appended = match ctx.wal.appended() {
            Ok(appended) => appended,
            Err(e) => {
                // The log failed for good: nothing new can be made durable.
                if let Some(n) = asked {
                    requests.finished(n, Some(e.to_string()));
                }
                continue;
            }
        };
        let written = appended.end().saturating_sub(since_lsn);
        if asked.is_none()
            && written < wal_size_bytes
            && (written == 0 || since.elapsed() < interval)
        {
            continue;
        }
        let started = std::time::Instant::now();
        let mut taken = checkpoint(&ctx, &fs, &shard_dir, &issued).await;
        // A requested one waits out a discarded batch's records.
        while asked.is_some() && matches!(taken, Ok(None)) {
            tokio::time::sleep(CHECKPOINT_POLL_INTERVAL).await;
            taken = checkpoint(&ctx, &fs, &shard_dir, &issued).await;
        }
        if let Some(n) = asked {
            requests.finished(n, taken.as_ref().err().map(ToString::to_string));
        }
        match taken {
            Ok(None) => {}
            Ok(Some((published, replay_start, end))) => {
                tracing::info!(
                    "shard {shard}: checkpoint {} of {} rows in {:?}; replay starts at log position {replay_start}; removed {} old checkpoints and {} log segments",
                    published.seq,
                    published.rows,
                    started.elapsed(),
                    published.removed_checkpoints,
                    published.removed_segments,
                );
                since_lsn = end;
                since = std::time::Instant::now();
            }
            Err(e) => {
                tracing::warn!("shard {shard}: checkpoint failed: {e}");
                since_lsn = appended.end();
                since = std::time::Instant::now();
            }
        }
    }
}

/// Takes one checkpoint of the shard; `None` if it cannot begin now.
/// Returns what was published, its replay start and the log end it covers.
async fn checkpoint(
    ctx: &ShardContext,
    fs: &Arc<dyn FileSystem>,
    shard_dir: &std::path::Path,
    issued: &IssuedIds,
) -> Result<Option<(Published, u64, u64)>> {
    let Some((floor, mut plan)) = ctx.begin_checkpoint()? else {
        return Ok(None);
    };
    // The snapshot may hold state published before it was durable: what
    // it depends on in other logs must be durable before the checkpoint
    // is (its own log is waited for with the plan).
    if let Err(e) = ctx.wait_foreign_deps().await {
        ctx.end_checkpoint(floor);
        return Err(e);
    }
    plan.max_tx = issued.max_tx();
    plan.max_row_id = issued.max_row_id();
    let (replay_start, end) = (plan.replay_start, plan.appended.end());
    let result = write_checkpoint(fs.clone(), shard_dir, plan, &ctx.store, &ctx.wal).await;
    ctx.end_checkpoint(floor);
    result.map(|published| Some((published, replay_start, end)))
}
