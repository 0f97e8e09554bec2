//! The cluster service of one node: a thread with its own event loop that
//! listens on the internal port, runs the node's member of the metadata
//! Raft group, finds or founds the cluster at start-up, and, on the
//! leader, governs membership (which nodes vote).
//!
//! Start-up, by what the data directory holds (`raft/identity`):
//! - an id: the node rejoins as itself; its Raft state is on disk, and if
//!   its addresses changed it tells the leader;
//! - no id: discovery. It asks every `--peer` who they are. If one is in a
//!   cluster, it asks that cluster's leader to join and gets an id. If
//!   every peer answered and none is in a cluster, the node whose
//!   advertised address sorts first bootstraps one; the others keep asking
//!   until it has. So nodes started together with the same peer list form
//!   one cluster, and a node started alone (no peers) founds its own.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{ChangeMembers, Raft, ServerState, Snapshot};
use ring::rand::{SecureRandom, SystemRandom};
use tessera_types::global::GlobalOp;
use tessera_types::sequence::Claimed;
use tessera_types::{sqlstate, Error, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::catalog::{
    CatalogClient, CatalogOp, CatalogRequest, ClaimRequest, EpochRequest, GlobalRequest,
};
use crate::secret::{handshake_server, ClusterSecret};
use crate::state::{
    Command, CommandResult, Metadata, NodeId, NodeRecord, NodeState, RaftNode, ReplicationMode,
    SequenceMove, TierWish, TypeConfig,
};
use crate::store::{LogStore, StateMachineStore};
use crate::wire::{
    read_frame, write_frame, Hello, Peer, RaftNetworkImpl, Request, Response, Status,
};

/// Timing of the metadata group.
#[derive(Debug, Clone)]
pub struct Timing {
    pub heartbeat: Duration,
    pub election_min: Duration,
    pub election_max: Duration,
    /// A voter the leader has not heard from for this long is replaced by
    /// a live learner, if there is one.
    pub voter_down_timeout: Duration,
    /// How often the governor looks at the cluster.
    pub governor_interval: Duration,
    /// A master whose node has not answered the governor for this long is
    /// replaced by a member of its replica group (docs/CLUSTER.md §6).
    pub failover_timeout: Duration,
}

impl Timing {
    /// How long a master may take writes after the Raft group last
    /// confirmed it is in touch: half the failover timeout, so it stops
    /// before another member can be promoted (docs/CLUSTER.md §6).
    pub fn lease(&self) -> Duration {
        self.failover_timeout / 2
    }
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            heartbeat: Duration::from_millis(100),
            // openraft's followers call an election once they have not
            // heard from the leader for its lease (`election_max`) and a
            // random timeout between these: 0.75-1 s after a leader dies.
            election_min: Duration::from_millis(250),
            election_max: Duration::from_millis(500),
            voter_down_timeout: Duration::from_secs(30),
            governor_interval: Duration::from_millis(100),
            failover_timeout: Duration::from_millis(1000),
        }
    }
}

/// Commits `command` through `raft` (this node must lead): its log index
/// and result.
async fn commit(raft: &Raft<TypeConfig>, command: Command) -> Result<(u64, CommandResult)> {
    raft.client_write(command)
        .await
        .map(|r| (r.log_id.index, r.data))
        .map_err(|e| Error::new(sqlstate::CONNECTION_FAILURE, e.to_string()))
}

/// The most voters the metadata group has; the other nodes are learners.
pub const MAX_VOTERS: usize = 5;

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The address other nodes reach this one at.
    pub advertise: String,
    /// Other nodes to find the cluster through (this node's own address
    /// may be among them).
    pub peers: Vec<String>,
    pub secret: ClusterSecret,
    /// Defaults to the advertised address.
    pub name: Option<String>,
    pub pg_addr: String,
    pub shards: u16,
    /// The cluster's number of buckets, if this node founds it.
    pub bucket_count: u32,
    /// The tier this node is in (docs/CLUSTER.md §3).
    pub tier: String,
    /// How many nodes keep a copy of each shard, if this node makes its
    /// tier (default 1); a node joining a tier with another is refused.
    pub replication_factor: Option<u16>,
    /// When a master acknowledges a commit, if this node makes its tier
    /// (default async); a node joining a tier with another is refused.
    pub replication_mode: Option<ReplicationMode>,
    pub failure_domain: BTreeMap<String, String>,
    pub timing: Timing,
    /// Runs shard requests from other nodes (none: they are refused).
    pub shard_service: Option<crate::shards::ShardServiceRef>,
}

/// What other threads may read of the cluster: the system tables as this
/// node last applied them, and the leader it last heard of.
#[derive(Clone)]
pub struct ClusterWatch {
    pub metadata: watch::Receiver<Arc<Metadata>>,
    leader: Arc<AtomicU64>,
}

impl ClusterWatch {
    pub fn leader(&self) -> Option<NodeId> {
        match self.leader.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }

    /// A node's role in the metadata group: leader, voter or learner.
    pub fn raft_role(&self, metadata: &Metadata, id: NodeId) -> &'static str {
        let membership = metadata.membership.membership();
        if self.leader() == Some(id) {
            "leader"
        } else if membership.voter_ids().any(|v| v == id) {
            "voter"
        } else if membership.get_node(&id).is_some() {
            "learner"
        } else {
            "none"
        }
    }
}

/// A running cluster service.
pub struct ClusterHandle {
    pub watch: ClusterWatch,
    /// Which of this node's shards it is master of, as the metadata says.
    pub masters: Arc<crate::masters::Mastership>,
    /// The SQL catalog's log (see `catalog.rs`).
    pub catalog: CatalogClient,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClusterHandle {
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

const IDENTITY_FILE: &str = "identity";

/// The encoding of the metadata group's log and snapshots (its commands
/// and tables), kept in the identity: 2 since nodes and tiers gained
/// fields. A node whose log an older encoding wrote cannot read it.
const METADATA_FORMAT: u32 = 2;

/// Who this node is, kept in `raft/identity`.
#[derive(Debug, Clone, PartialEq)]
struct Identity {
    uuid: u128,
    node_id: Option<NodeId>,
    cluster_id: Option<u128>,
    /// Expelled by `tessera expel`: the node never takes part again.
    expelled: bool,
    /// The [`METADATA_FORMAT`] its log is written in (1: from before it
    /// was kept).
    format: u32,
}

impl Identity {
    fn load_or_create(dir: &Path) -> Result<Identity> {
        let path = dir.join(IDENTITY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let id = Identity::parse(&text).ok_or_else(|| {
                    Error::new(
                        sqlstate::DATA_CORRUPTED,
                        format!("{} does not name this node", path.display()),
                    )
                })?;
                // Only a node that took part has a log to read.
                if id.node_id.is_some() && id.format != METADATA_FORMAT {
                    return Err(Error::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!(
                            "{} holds cluster metadata in format {}, written by an earlier Tessera; this one reads format {METADATA_FORMAT} and cannot convert it: dump the data with the earlier Tessera (pg_dump) and load it into a new cluster, or start this node with a new data directory to join a cluster of this version",
                            dir.display(),
                            id.format
                        ),
                    ));
                }
                Ok(id)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = Identity {
                    uuid: random_u128()?,
                    node_id: None,
                    cluster_id: None,
                    expelled: false,
                    format: METADATA_FORMAT,
                };
                id.save(dir)?;
                Ok(id)
            }
            Err(e) => Err(Error::io("reading the node identity", e)),
        }
    }

    fn parse(text: &str) -> Option<Identity> {
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
        };
        Some(Identity {
            uuid: u128::from_str_radix(&get("uuid")?, 16).ok()?,
            node_id: match get("node_id") {
                Some(v) => Some(v.parse().ok()?),
                None => None,
            },
            cluster_id: match get("cluster_id") {
                Some(v) => Some(u128::from_str_radix(&v, 16).ok()?),
                None => None,
            },
            expelled: get("expelled").is_some_and(|v| v == "true"),
            format: match get("metadata_format") {
                Some(v) => v.parse().ok()?,
                None => 1,
            },
        })
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let mut text = format!(
            "# This node's identity in its cluster. Do not edit.\nuuid = {:032x}\n",
            self.uuid
        );
        if let Some(id) = self.node_id {
            text.push_str(&format!("node_id = {id}\n"));
        }
        if let Some(c) = self.cluster_id {
            text.push_str(&format!("cluster_id = {c:032x}\n"));
        }
        if self.expelled {
            text.push_str("expelled = true\n");
        }
        text.push_str(&format!("metadata_format = {METADATA_FORMAT}\n"));
        let path = dir.join(IDENTITY_FILE);
        let tmp = dir.join("identity.tmp");
        (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        })()
        .map_err(|e| Error::io("writing the node identity", e))
    }
}

fn random_u128() -> Result<u128> {
    let mut b = [0u8; 16];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::internal("no randomness"))?;
    Ok(u128::from_be_bytes(b))
}

/// Starts the service on its own thread. Returns once the internal port
/// listens; finding or founding the cluster goes on in the background
/// (its progress is logged and shown by `tessera status`).
pub fn start(config: ClusterConfig) -> Result<ClusterHandle> {
    let raft_dir = config.data_dir.join("raft");
    std::fs::create_dir_all(&raft_dir).map_err(|e| Error::io("creating the raft directory", e))?;
    let identity = Identity::load_or_create(&raft_dir)?;
    let log = LogStore::open(&raft_dir)?;
    let (sm, metadata) = StateMachineStore::open(&raft_dir)?;
    let listener = std::net::TcpListener::bind(config.listen).map_err(|e| {
        Error::new(
            sqlstate::INSUFFICIENT_RESOURCES,
            format!(
                "cannot listen on {} for cluster traffic: {e}",
                config.listen
            ),
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("setting up the cluster listener", e))?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (catalog_requests, catalog_rx) = mpsc::unbounded_channel();
    let (claim_requests, claims_rx) = mpsc::unbounded_channel();
    let (global_requests, globals_rx) = mpsc::unbounded_channel();
    let (epoch_requests, epochs_rx) = mpsc::unbounded_channel();
    let (sql_applied, sql_applied_rx) = watch::channel(0);
    let (globals_applied, globals_applied_rx) = watch::channel(0);
    let (claims_observed, claims_observed_rx) = watch::channel(0);
    let me = Arc::new(AtomicU64::new(0));
    let masters = Arc::new(crate::masters::Mastership::new(config.shards));
    let catalog = CatalogClient::new(
        (catalog_requests, epoch_requests),
        (claim_requests, Arc::new(claims_observed)),
        (global_requests, Arc::new(globals_applied)),
        metadata.clone(),
        Arc::new(sql_applied),
        me.clone(),
        masters.clone(),
    );
    let buckets_view = catalog.buckets_view();
    let masters_kept = masters.clone();
    let metadata_rx = metadata.clone();
    let leader = Arc::new(AtomicU64::new(0));
    let leader_seen = leader.clone();
    let thread = std::thread::Builder::new()
        .name("cluster".into())
        .stack_size(crate::shards::SERVICE_STACK_BYTES)
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("the cluster service cannot start: {e}");
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let listener = match TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("the cluster listener: {e}");
                        return;
                    }
                };
                let node = Rc::new(Node {
                    config,
                    raft_dir,
                    identity: RefCell::new(identity),
                    raft: RefCell::new(None),
                    stores: RefCell::new(Some((log, sm))),
                    metadata: metadata_rx,
                    contact: RefCell::new(BTreeMap::new()),
                    pinging: RefCell::default(),
                    masters: masters_kept.clone(),
                    leader_since: RefCell::new(None),
                    seen_leader: RefCell::new((None, 0)),
                    previous_leader: Cell::new(None),
                    heirs_unheard: RefCell::default(),
                    refused: RefCell::default(),
                    leader: leader_seen,
                    last_proposal: Cell::new(0),
                    catalog_peer: RefCell::new(None),
                    sql_applied: sql_applied_rx,
                    buckets_view,
                    globals_applied: globals_applied_rx,
                    claims_observed: claims_observed_rx,
                    me,
                });
                tokio::task::spawn_local(accept_loop(node.clone(), listener));
                tokio::task::spawn_local(node.clone().start_up());
                tokio::task::spawn_local(node.clone().govern());
                tokio::task::spawn_local(node.clone().serve_catalog(catalog_rx));
                tokio::task::spawn_local(node.clone().serve_claims(claims_rx));
                tokio::task::spawn_local(node.clone().serve_globals(globals_rx));
                tokio::task::spawn_local(node.clone().serve_epochs(epochs_rx));
                tokio::task::spawn_local(node.clone().follow_masters(masters_kept));
                let mut shutdown_rx = shutdown_rx;
                while !*shutdown_rx.borrow() {
                    if shutdown_rx.changed().await.is_err() {
                        break;
                    }
                }
                let raft = node.raft.borrow().clone();
                if let Some(raft) = raft {
                    let _ = raft.shutdown().await;
                }
            });
        })
        .map_err(|e| Error::io("starting the cluster thread", e))?;
    Ok(ClusterHandle {
        watch: ClusterWatch { metadata, leader },
        masters,
        catalog,
        shutdown,
        thread: Some(thread),
    })
}

struct Node {
    /// This node's id once it has one (0 before), for `CatalogClient::me`.
    me: Arc<AtomicU64>,
    config: ClusterConfig,
    raft_dir: PathBuf,
    identity: RefCell<Identity>,
    raft: RefCell<Option<Raft<TypeConfig>>>,
    /// The stores until the Raft member is created (it takes them).
    stores: RefCell<Option<(LogStore, StateMachineStore)>>,
    metadata: watch::Receiver<Arc<Metadata>>,
    /// On the leader: when each node last answered the governor.
    contact: RefCell<BTreeMap<NodeId, Contact>>,
    /// The nodes a ping is out to.
    pinging: RefCell<BTreeSet<NodeId>>,
    /// Which of this node's shards it is master of, and its logs' ends.
    masters: Arc<crate::masters::Mastership>,
    leader_since: RefCell<Option<Instant>>,
    /// The leader the governor last saw, for the log.
    seen_leader: RefCell<(Option<NodeId>, u64)>,
    /// The leader before that: silent for an election timeout at least
    /// when this node took over from it.
    previous_leader: Cell<Option<NodeId>>,
    /// Silent masters whose groups lack the members a promotion must
    /// hear first (sync mode), said once.
    heirs_unheard: RefCell<BTreeSet<NodeId>>,
    /// Why the node cannot take part in the cluster, if its join was
    /// refused: the catalog's callers learn it.
    refused: RefCell<Option<String>>,
    /// The leader, for [`ClusterWatch`].
    leader: Arc<AtomicU64>,
    /// The number of this node's last catalog proposal.
    last_proposal: Cell<u64>,
    /// The connection catalog proposals take to the leader.
    catalog_peer: RefCell<Option<Peer>>,
    /// The records the SQL layer's catalog holds (`CatalogClient::applied`).
    sql_applied: watch::Receiver<u64>,
    /// The bucket map as this node's SQL catalog holds it, once buckets
    /// moved (the metadata's is the one made at bootstrap).
    buckets_view: crate::catalog::BucketView,
    /// The writes the node's copy of the global tables holds
    /// (`CatalogClient::globals_applied`).
    globals_applied: watch::Receiver<u64>,
    /// The claims whose positions the node's sequences have observed
    /// (`CatalogClient::claims_observed`).
    claims_observed: watch::Receiver<u64>,
}

/// What the governor last heard from a node: when, and how far each of
/// its shard logs reached (see `Hello::log_ends`).
struct Contact {
    /// When the answer came.
    at: Instant,
    /// When the question went: the answer tells of the node after that.
    asked: Instant,
    log_ends: Vec<u64>,
}

/// Whether `count` reaches `n` within `CATALOG_APPLY_WAIT`: what a node
/// that changed something shared asks every other node.
async fn reaches(count: &watch::Receiver<u64>, n: u64) -> bool {
    let mut count = count.clone();
    let reached = tokio::time::timeout(CATALOG_APPLY_WAIT, count.wait_for(|c| *c >= n)).await;
    matches!(reached, Ok(Ok(_)))
}

const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How many queued writes of global tables go in one command at most.
const GLOBAL_WRITES_PER_COMMAND: usize = 64;
/// How long a write of global tables tries to reach a leader.
const GLOBAL_WRITE_PATIENCE: Duration = Duration::from_secs(10);
/// How long a node that committed a catalog change waits for each other
/// node to apply it.
const CATALOG_APPLY_WAIT: Duration = Duration::from_secs(5);
/// How often a catalog change asks again for a lock another node holds.
const CATALOG_LOCK_RETRY: Duration = Duration::from_millis(50);
/// How long a sequence claim is tried again without a leader or an answer
/// before the statement that needs it fails.
const SEQUENCE_CLAIM_PATIENCE: Duration = Duration::from_secs(10);
/// How long a new master tries to have the start of its epoch recorded
/// before it gives up (and tries again later).
const EPOCH_PATIENCE: Duration = Duration::from_secs(10);
const DISCOVERY_RETRY: Duration = Duration::from_millis(300);

impl Node {
    fn raft(&self) -> Option<Raft<TypeConfig>> {
        self.raft.borrow().clone()
    }

    fn record(&self, id: NodeId) -> NodeRecord {
        NodeRecord {
            id,
            uuid: self.identity.borrow().uuid,
            name: self
                .config
                .name
                .clone()
                .unwrap_or_else(|| self.config.advertise.clone()),
            advertise: self.config.advertise.clone(),
            pg_addr: self.config.pg_addr.clone(),
            shards: self.config.shards,
            first_shard: 0,
            slot: 0,
            failure_domain: self.config.failure_domain.clone(),
            state: NodeState::Online,
            tier: self.config.tier.clone(),
        }
    }

    /// What this node asks of its tier when it joins.
    fn tier_wish(&self) -> TierWish {
        TierWish {
            replication_factor: self.config.replication_factor,
            replication_mode: self.config.replication_mode,
        }
    }

    async fn create_raft(&self, id: NodeId) -> Result<Raft<TypeConfig>> {
        let t = &self.config.timing;
        let config = openraft::Config {
            cluster_name: "tessera".into(),
            heartbeat_interval: t.heartbeat.as_millis() as u64,
            election_timeout_min: t.election_min.as_millis() as u64,
            election_timeout_max: t.election_max.as_millis() as u64,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(5000),
            max_in_snapshot_log_to_keep: 1000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| {
            Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("raft settings: {e}"),
            )
        })?;
        let (log, sm) = self
            .stores
            .borrow_mut()
            .take()
            .ok_or_else(|| Error::internal("the raft member was created twice"))?;
        let network = RaftNetworkImpl {
            secret: self.config.secret.clone(),
        };
        let raft = Raft::new(id, Arc::new(config), network, log, sm)
            .await
            .map_err(|e| Error::internal(format!("starting the metadata raft member: {e}")))?;
        *self.raft.borrow_mut() = Some(raft.clone());
        Ok(raft)
    }

    fn leader_addr(&self, raft: &Raft<TypeConfig>) -> Option<String> {
        let m = raft.metrics().borrow().clone();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    fn is_leader(raft: &Raft<TypeConfig>) -> bool {
        raft.metrics().borrow().state == ServerState::Leader
    }

    async fn start_up(self: Rc<Self>) {
        if self.identity.borrow().expelled {
            tracing::error!(
                "this node was expelled from its cluster and does not rejoin it (start it with a new data directory to join again)"
            );
            return;
        }
        let known = self.identity.borrow().node_id;
        let result = match known {
            Some(id) => self.rejoin(id).await,
            None => self.discover().await,
        };
        if let Err(e) = result {
            tracing::error!(
                "the node could not take its place in the cluster: {}",
                e.message
            );
            *self.refused.borrow_mut() = Some(e.message);
        }
    }

    async fn rejoin(self: &Rc<Self>, id: NodeId) -> Result<()> {
        let raft = self.create_raft(id).await?;
        tracing::info!("node {id} is back in its cluster");
        // Once there is a leader, make sure the tables carry this start's
        // addresses.
        loop {
            let metadata = self.metadata.borrow().clone();
            let mine = self.record(id);
            match metadata.nodes.get(&id) {
                Some(row)
                    if row.advertise == mine.advertise
                        && row.pg_addr == mine.pg_addr
                        && row.failure_domain == mine.failure_domain
                        && row.shards == mine.shards =>
                {
                    return Ok(())
                }
                Some(row) if row.state == NodeState::Expelled => {
                    self.leave(&raft).await;
                    return Ok(());
                }
                _ => {}
            }
            if let Some(addr) = self.leader_addr(&raft) {
                let mut peer = Peer::new(addr, self.config.secret.clone());
                match peer.call(&Request::Update(mine), CALL_TIMEOUT).await {
                    Ok(Response::Updated) => return Ok(()),
                    Ok(Response::Expelled(_)) => {
                        self.leave(&raft).await;
                        return Ok(());
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(DISCOVERY_RETRY).await;
        }
    }

    async fn discover(self: &Rc<Self>) -> Result<()> {
        let me = self.config.advertise.clone();
        let peers: Vec<String> = self
            .config
            .peers
            .iter()
            .filter(|p| **p != me)
            .cloned()
            .collect();
        let mut waiting_logged = false;
        loop {
            let mut hellos = Vec::new();
            let mut all = true;
            for p in &peers {
                let mut peer = Peer::new(p.clone(), self.config.secret.clone());
                match peer
                    .call(&Request::Hello { lease: false }, CALL_TIMEOUT)
                    .await
                {
                    Ok(Response::Hello(h)) => hellos.push(h),
                    Ok(_) => all = false,
                    Err(e) => {
                        if e.code == sqlstate::INVALID_AUTHORIZATION_SPECIFICATION {
                            tracing::error!("peer {p}: {}", e.message);
                        }
                        all = false
                    }
                }
            }
            let in_cluster: Vec<&Hello> =
                hellos.iter().filter(|h| h.cluster_id.is_some()).collect();
            if let Some(h) = in_cluster.first() {
                let via = h.leader.clone().unwrap_or_else(|| h.advertise.clone());
                match self.join(via).await {
                    Ok(()) => return Ok(()),
                    // The tables refuse it, and would again.
                    Err(e) if e.code == sqlstate::INVALID_PARAMETER_VALUE => return Err(e),
                    Err(e) => tracing::warn!("joining the cluster: {}", e.message),
                }
            } else if all && hellos.iter().all(|h| me < h.advertise) {
                return self.bootstrap().await;
            } else if !waiting_logged {
                tracing::info!(
                    "waiting for the peers {} to answer or to form a cluster",
                    peers.join(", ")
                );
                waiting_logged = true;
            }
            tokio::time::sleep(DISCOVERY_RETRY).await;
        }
    }

    async fn bootstrap(self: &Rc<Self>) -> Result<()> {
        let cluster_id = random_u128()?;
        {
            let mut identity = self.identity.borrow_mut();
            identity.node_id = Some(1);
            identity.cluster_id = Some(cluster_id);
            identity.save(&self.raft_dir)?;
        }
        let raft = self.create_raft(1).await?;
        let mut members = BTreeMap::new();
        members.insert(
            1,
            RaftNode {
                addr: self.config.advertise.clone(),
            },
        );
        raft.initialize(members)
            .await
            .map_err(|e| Error::internal(format!("founding the metadata group: {e}")))?;
        raft.wait(Some(Duration::from_secs(30)))
            .current_leader(1, "the founder leads")
            .await
            .map_err(|e| Error::internal(format!("founding the metadata group: {e}")))?;
        let command = Command::Bootstrap {
            cluster_id,
            node: self.record(1),
            bucket_count: self.config.bucket_count,
            replication_factor: self.config.replication_factor.unwrap_or(1),
            replication_mode: self.config.replication_mode.unwrap_or_default(),
        };
        raft.client_write(command)
            .await
            .map_err(|e| Error::internal(format!("founding the metadata group: {e}")))?;
        tracing::info!("founded cluster {cluster_id:032x} as node 1");
        Ok(())
    }

    async fn join(self: &Rc<Self>, mut via: String) -> Result<()> {
        for _ in 0..5 {
            let mut peer = Peer::new(via.clone(), self.config.secret.clone());
            match peer
                .call(
                    &Request::Join(self.record(0), self.tier_wish()),
                    CALL_TIMEOUT * 5,
                )
                .await?
            {
                Response::Joined {
                    node_id,
                    cluster_id,
                } => {
                    {
                        let mut identity = self.identity.borrow_mut();
                        identity.node_id = Some(node_id);
                        identity.cluster_id = Some(cluster_id);
                        identity.save(&self.raft_dir)?;
                    }
                    self.create_raft(node_id).await?;
                    tracing::info!("joined cluster {cluster_id:032x} as node {node_id}");
                    return Ok(());
                }
                Response::NotLeader(Some(leader)) => via = leader,
                Response::NotLeader(None) => {
                    return Err(Error::new(
                        sqlstate::CONNECTION_FAILURE,
                        "the cluster has no leader at the moment",
                    ))
                }
                Response::Failed(message) => {
                    return Err(Error::new(
                        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        message,
                    ))
                }
                Response::Refused(message) => {
                    return Err(Error::new(sqlstate::INVALID_PARAMETER_VALUE, message))
                }
                other => {
                    return Err(Error::new(
                        sqlstate::PROTOCOL_VIOLATION,
                        format!("an unexpected answer to a join: {other:?}"),
                    ))
                }
            }
        }
        Err(Error::new(
            sqlstate::CONNECTION_FAILURE,
            "the cluster's leader kept moving",
        ))
    }

    /// Serves one request.
    async fn handle(self: &Rc<Self>, request: Request) -> Response {
        let Some(raft) = self.raft() else {
            return match request {
                Request::Hello { .. } => Response::Hello(Hello {
                    advertise: self.config.advertise.clone(),
                    cluster_id: None,
                    node_id: None,
                    leader: None,
                    log_ends: vec![],
                }),
                _ => Response::Failed("this node is not in a cluster yet".into()),
            };
        };
        match request {
            Request::Hello { lease } => {
                if lease {
                    self.masters
                        .renew_lease(Instant::now() + self.config.timing.lease());
                }
                let identity = self.identity.borrow().clone();
                Response::Hello(Hello {
                    advertise: self.config.advertise.clone(),
                    cluster_id: identity.cluster_id,
                    node_id: identity.node_id,
                    leader: self.leader_addr(&raft),
                    log_ends: self.masters.log_ends(),
                })
            }
            Request::CutOff(addrs) => {
                tracing::warn!("fault injection: acting as if {addrs:?} could not be reached");
                crate::wire::set_cut_off(addrs);
                Response::Updated
            }
            Request::AppendEntries(rpc) => Response::AppendEntries(raft.append_entries(rpc).await),
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::Snapshot { vote, meta, data } => {
                let snapshot = Snapshot {
                    meta,
                    snapshot: Box::new(data),
                };
                Response::Snapshot(
                    raft.install_full_snapshot(vote, snapshot)
                        .await
                        .map_err(|e| e.to_string()),
                )
            }
            Request::Join(..) | Request::Update(_) if !Self::is_leader(&raft) => {
                Response::NotLeader(self.leader_addr(&raft))
            }
            Request::Join(record, wish) => self.admit(&raft, record, wish).await,
            Request::Update(record) => {
                let id = record.id;
                let addr = record.advertise.clone();
                match self
                    .propose(&raft, Command::UpdateNode { node: record })
                    .await
                {
                    Ok(CommandResult::Done) => {
                        let mut nodes = BTreeMap::new();
                        nodes.insert(id, RaftNode { addr });
                        match raft
                            .change_membership(ChangeMembers::SetNodes(nodes), true)
                            .await
                        {
                            Ok(_) => Response::Updated,
                            Err(e) => Response::Failed(e.to_string()),
                        }
                    }
                    Ok(CommandResult::Refused(m)) => {
                        let expelled = self
                            .metadata
                            .borrow()
                            .nodes
                            .get(&id)
                            .is_some_and(|n| n.state == NodeState::Expelled);
                        if expelled {
                            Response::Expelled(id)
                        } else {
                            Response::Failed(m)
                        }
                    }
                    Ok(other) => Response::Failed(format!("unexpected {other:?}")),
                    Err(e) => Response::Failed(e.message),
                }
            }
            Request::Status => self.status(&raft).await,
            Request::Expel { node, force } => self.expel(&raft, node, force).await,
            Request::YouAreExpelled => {
                self.leave(&raft).await;
                Response::Expelled(self.identity.borrow().node_id.unwrap_or(0))
            }
            // `serve` hands such a connection to `shards.rs` first.
            Request::ShardChannel => Response::Failed("not a shard channel".into()),
            Request::Propose(_) if !Self::is_leader(&raft) => {
                Response::NotLeader(self.leader_addr(&raft))
            }
            Request::Propose(
                command @ (Command::CatalogLock { .. }
                | Command::Catalog { .. }
                | Command::CatalogUnlock { .. }
                | Command::LeaseIds { .. }
                | Command::ClaimSequences { .. }
                | Command::WriteGlobals { .. }
                | Command::StartEpoch { .. }
                | Command::Fence),
            ) => match commit(&raft, command).await {
                Ok((index, result)) => Response::Proposed { index, result },
                Err(e) => Response::Failed(e.message),
            },
            Request::CatalogApplied(records) => {
                Response::CatalogApplied(reaches(&self.sql_applied, records).await)
            }
            Request::GlobalsApplied(writes) => {
                Response::GlobalsApplied(reaches(&self.globals_applied, writes).await)
            }
            Request::ClaimsObserved(claims) => {
                Response::ClaimsObserved(reaches(&self.claims_observed, claims).await)
            }
            Request::Propose(other) => {
                Response::Failed(format!("\"{other}\" is not proposed this way"))
            }
        }
    }

    /// Serves the SQL layer's catalog requests one at a time, in the order
    /// they were made (see `catalog.rs`).
    async fn serve_catalog(self: Rc<Self>, mut requests: mpsc::UnboundedReceiver<CatalogRequest>) {
        while let Some(request) = requests.recv().await {
            let result = self.catalog_op(&request.op).await;
            let _ = request.reply.send(result);
        }
    }

    /// Keeps `masters` as the metadata says, for the node's life.
    async fn follow_masters(self: Rc<Self>, masters: Arc<crate::masters::Mastership>) {
        let mut metadata = self.metadata.clone();
        loop {
            let me = self.identity.borrow().node_id;
            let Some(me) = me else {
                // Not in the cluster yet (joining).
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            masters.update(&metadata.borrow_and_update(), me);
            if metadata.changed().await.is_err() {
                return;
            }
        }
    }

    /// Serves claims on sequence positions one at a time, in order.
    async fn serve_claims(self: Rc<Self>, mut requests: mpsc::UnboundedReceiver<ClaimRequest>) {
        while let Some(request) = requests.recv().await {
            let result = self.claim_sequences(request.claims).await;
            let _ = request.reply.send(result);
        }
    }

    /// Serves new masters' starts of their epochs, one at a time.
    async fn serve_epochs(self: Rc<Self>, mut requests: mpsc::UnboundedReceiver<EpochRequest>) {
        while let Some(request) = requests.recv().await {
            let make = |node, _| Command::StartEpoch {
                shard: request.shard,
                epoch: request.epoch,
                node,
                start: request.start,
            };
            // Taken twice, it is the same (the first start stays).
            let result = self
                .propose_patiently("the start of a master's epoch", EPOCH_PATIENCE, make, false)
                .await
                .map(|_| ());
            let _ = request.reply.send(result);
        }
    }

    /// Serves writes to global tables in order, those that queued up
    /// meanwhile in one command.
    async fn serve_globals(self: Rc<Self>, mut requests: mpsc::UnboundedReceiver<GlobalRequest>) {
        while let Some(first) = requests.recv().await {
            let mut batch = vec![first];
            while batch.len() < GLOBAL_WRITES_PER_COMMAND {
                match requests.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let writes = batch.iter().map(|r| r.ops.clone()).collect();
            match self.write_globals(writes).await {
                Ok(outcomes) => {
                    let me = self.identity.borrow().node_id;
                    if let (Some(me), Some(last)) = (me, outcomes.iter().flatten().max().copied()) {
                        self.wait_for_others(me, Request::GlobalsApplied(last))
                            .await;
                    }
                    for (request, outcome) in batch.into_iter().zip(outcomes) {
                        let _ = request.reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    for request in batch {
                        let _ = request.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// Proposes a `WriteGlobals` until it is known to be applied or not
    /// (a lost answer is settled with a fence); the outcome of each write.
    async fn write_globals(
        self: &Rc<Self>,
        writes: Vec<Vec<GlobalOp>>,
    ) -> Result<Vec<Option<u64>>> {
        let make = |node, proposal| Command::WriteGlobals {
            node,
            proposal,
            writes: writes.clone(),
        };
        match self
            .propose_patiently(
                "this write of global tables",
                GLOBAL_WRITE_PATIENCE,
                make,
                true,
            )
            .await?
        {
            CommandResult::Globals(outcomes) => Ok(outcomes),
            other => Err(Error::internal(format!(
                "an unexpected answer to a write of global tables: {other:?}"
            ))),
        }
    }

    /// Proposes a `ClaimSequences`, trying again for a while when there is
    /// no leader or no answer: a claim applied twice is lost the second
    /// time, as if another node had moved the position, which the caller
    /// handles.
    async fn claim_sequences(self: &Rc<Self>, claims: Vec<SequenceMove>) -> Result<Vec<Claimed>> {
        let make = |node, _| Command::ClaimSequences {
            node,
            claims: claims.clone(),
        };
        match self
            .propose_patiently(
                "this node's claim on sequence values",
                SEQUENCE_CLAIM_PATIENCE,
                make,
                false,
            )
            .await?
        {
            CommandResult::Claims(outcomes) => {
                // A position set whatever it was (`setval`): every node
                // goes on from it once the statement returns.
                let set = claims.iter().any(|c| c.after.is_none());
                let me = self.identity.borrow().node_id;
                if let (true, Some(me)) = (set, me) {
                    let claims = self.metadata.borrow().sequence_claims;
                    self.wait_for_others(me, Request::ClaimsObserved(claims))
                        .await;
                }
                Ok(outcomes)
            }
            other => Err(Error::internal(format!(
                "an unexpected answer to a sequence claim: {other:?}"
            ))),
        }
    }

    /// Proposes the command `make` builds (from this node's id and a new
    /// proposal number) through the leader, trying again for up to
    /// `patience` while there is no leader or no answer; its result once
    /// applied here (`Refused` as an error). With `settle` a lost answer
    /// is settled with a fence and the node's last `WriteGlobals` proposal
    /// first, so the command is never applied twice; without, the caller
    /// accepts that it may be.
    async fn propose_patiently(
        self: &Rc<Self>,
        what: &str,
        patience: Duration,
        make: impl Fn(NodeId, u64) -> Command,
        settle: bool,
    ) -> Result<CommandResult> {
        let started = Instant::now();
        loop {
            let raft = self.raft();
            let node = self.identity.borrow().node_id;
            let failure = match (raft, node) {
                (Some(raft), Some(node)) => {
                    let proposal = self.next_proposal();
                    let result = match self.propose_via_leader(&raft, make(node, proposal)).await {
                        Ok((index, result)) => {
                            self.applied_up_to(index).await;
                            Ok(result)
                        }
                        Err(e) if settle => {
                            match self.outcome_of(&raft, node, proposal, true).await {
                                Some(result) => Ok(result),
                                // Never applied, and now never will be: again.
                                None => Err(e),
                            }
                        }
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(CommandResult::Refused(m)) => {
                            return Err(Error::new(sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE, m))
                        }
                        Ok(result) => return Ok(result),
                        Err(e) => e,
                    }
                }
                _ => Error::new(
                    sqlstate::CONNECTION_FAILURE,
                    "this node is not in its cluster yet",
                ),
            };
            if started.elapsed() > patience {
                return Err(Error::new(
                    failure.code,
                    format!("the cluster did not take {what}: {}", failure.message),
                ));
            }
            tokio::time::sleep(CATALOG_LOCK_RETRY).await;
        }
    }

    async fn catalog_op(self: &Rc<Self>, op: &CatalogOp) -> Result<u64> {
        let mut busy_logged = None;
        let busy_since = Instant::now();
        loop {
            let raft = self.raft();
            let node = self.identity.borrow().node_id;
            let (Some(raft), Some(node)) = (raft, node) else {
                if self.identity.borrow().expelled {
                    return Err(Error::new(
                        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "this node was expelled from its cluster, whose catalog it can no longer change; start it with a new data directory to join again",
                    ));
                }
                if let Some(refused) = self.refused.borrow().clone() {
                    return Err(Error::new(
                        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        refused,
                    ));
                }
                // Not in the cluster yet (discovery or join under way).
                tokio::time::sleep(DISCOVERY_RETRY).await;
                continue;
            };
            self.me.store(node, Ordering::Release);
            let proposal = self.next_proposal();
            let command = match op {
                CatalogOp::Lock => Command::CatalogLock { node, proposal },
                CatalogOp::Append {
                    records,
                    held,
                    unlock,
                } => Command::Catalog {
                    node,
                    proposal,
                    records: records.clone(),
                    held: *held,
                    unlock: *unlock,
                },
                CatalogOp::Unlock => Command::CatalogUnlock { node, proposal },
                CatalogOp::LeaseIds { up_to } => Command::LeaseIds {
                    node,
                    proposal,
                    up_to: *up_to,
                },
            };
            let result = match self.propose_via_leader(&raft, command).await {
                Ok((index, result)) => {
                    self.applied_up_to(index).await;
                    Some(result)
                }
                Err(e) => {
                    tracing::debug!("a catalog proposal: {}", e.message);
                    self.outcome_of(&raft, node, proposal, false).await
                }
            };
            match result {
                Some(CommandResult::Lease(end)) => return Ok(end),
                Some(CommandResult::CatalogLen(n)) => {
                    if let CatalogOp::Append { .. } = op {
                        self.wait_for_others(node, Request::CatalogApplied(n)).await;
                    }
                    return Ok(n);
                }
                Some(CommandResult::Busy(holder)) => {
                    if busy_logged != Some(holder) && busy_since.elapsed() > Duration::from_secs(2)
                    {
                        tracing::info!("a catalog change waits for node {holder}'s to finish");
                        busy_logged = Some(holder);
                    }
                    tokio::time::sleep(CATALOG_LOCK_RETRY).await;
                }
                Some(CommandResult::Refused(m)) => {
                    return Err(Error::new(sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE, m))
                }
                Some(other) => {
                    return Err(Error::internal(format!(
                        "an unexpected answer to a catalog command: {other:?}"
                    )))
                }
                // Never committed, and now never will be: again.
                None => tokio::time::sleep(CATALOG_LOCK_RETRY).await,
            }
        }
    }

    /// Waits until every other online node has applied what `ask` names
    /// (`CatalogApplied`: its SQL catalog holds that many records;
    /// `GlobalsApplied`: its copy of the global tables that many writes;
    /// `ClaimsObserved`: its sequences the positions that many claims made),
    /// so that a change is seen everywhere once its statement returns. A
    /// node that cannot say so in time is named in the log: it is down or
    /// cut off, and applies the change before it serves again (its
    /// start-up fence); a node cut off while it runs is the lease's
    /// business (docs/CLUSTER.md §6).
    async fn wait_for_others(&self, me: NodeId, ask: Request) {
        let metadata = self.metadata.borrow().clone();
        let mut asks = tokio::task::JoinSet::new();
        for n in metadata.nodes.values() {
            if n.id == me || !n.state.is_member() {
                continue;
            }
            let mut peer = Peer::new(n.advertise.clone(), self.config.secret.clone());
            let id = n.id;
            let ask = ask.clone();
            asks.spawn_local(async move {
                let answer = peer.call(&ask, CATALOG_APPLY_WAIT + CALL_TIMEOUT).await;
                let done = matches!(
                    answer,
                    Ok(Response::CatalogApplied(true)
                        | Response::GlobalsApplied(true)
                        | Response::ClaimsObserved(true))
                );
                (id, done)
            });
        }
        while let Some(done) = asks.join_next().await {
            if let Ok((id, false)) = done {
                tracing::warn!(
                    "node {id} did not confirm a change of the catalog or of global tables in time; it applies it before it serves again"
                );
            }
        }
    }

    /// A number larger than any this node proposed before, also in an
    /// earlier run.
    fn next_proposal(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let next = now.max(self.last_proposal.get() + 1);
        self.last_proposal.set(next);
        next
    }

    /// Proposes `command` on the leader, this node or another; returns
    /// its log index and result once committed. An error leaves the
    /// outcome unknown.
    async fn propose_via_leader(
        &self,
        raft: &Raft<TypeConfig>,
        command: Command,
    ) -> Result<(u64, CommandResult)> {
        if Self::is_leader(raft) {
            return commit(raft, command).await;
        }
        let Some(addr) = self.leader_addr(raft) else {
            return Err(Error::new(
                sqlstate::CONNECTION_FAILURE,
                "the cluster has no leader at the moment",
            ));
        };
        // One connection to the leader, kept (only `serve_catalog` uses it).
        let mut peer = match self.catalog_peer.take() {
            Some(p) if p.addr() == addr => p,
            _ => Peer::new(addr, self.config.secret.clone()),
        };
        let answer = peer
            .call(&Request::Propose(command), CALL_TIMEOUT * 5)
            .await;
        self.catalog_peer.replace(Some(peer));
        match answer? {
            Response::Proposed { index, result } => Ok((index, result)),
            other => Err(Error::new(
                sqlstate::CONNECTION_FAILURE,
                format!("the leader did not take the proposal: {other:?}"),
            )),
        }
    }

    /// The result of this node's proposal `proposal` (`global`: a
    /// `WriteGlobals`, else a catalog command), whose answer was lost: a
    /// fence is committed after it, and then the tables say whether it was
    /// applied (`None`: it was not, and never will be).
    async fn outcome_of(
        &self,
        raft: &Raft<TypeConfig>,
        node: NodeId,
        proposal: u64,
        global: bool,
    ) -> Option<CommandResult> {
        let since = Instant::now();
        let mut warned = false;
        loop {
            match self.propose_via_leader(raft, Command::Fence).await {
                Ok((index, _)) => {
                    self.applied_up_to(index).await;
                    let metadata = self.metadata.borrow().clone();
                    let proposals = if global {
                        &metadata.global_proposals
                    } else {
                        &metadata.proposals
                    };
                    return match proposals.get(&node) {
                        Some((p, result)) if *p == proposal => Some(result.clone()),
                        _ => None,
                    };
                }
                Err(e) => {
                    if !warned && since.elapsed() > Duration::from_secs(2) {
                        tracing::warn!(
                            "a catalog change waits to learn whether it was committed: {}",
                            e.message
                        );
                        warned = true;
                    }
                    tokio::time::sleep(CATALOG_LOCK_RETRY).await
                }
            }
        }
    }

    /// Waits until this node has applied the log up to `index`.
    async fn applied_up_to(&self, index: u64) {
        let mut metadata = self.metadata.clone();
        loop {
            let applied = metadata
                .borrow_and_update()
                .last_applied
                .map_or(0, |l| l.index);
            if applied >= index || metadata.changed().await.is_err() {
                return;
            }
        }
    }

    /// `tessera expel`, on the leader (another node forwards it there).
    async fn expel(self: &Rc<Self>, raft: &Raft<TypeConfig>, who: String, force: bool) -> Response {
        if !Self::is_leader(raft) {
            return match self.leader_addr(raft) {
                Some(addr) => {
                    let mut peer = Peer::new(addr, self.config.secret.clone());
                    let request = Request::Expel { node: who, force };
                    peer.call(&request, CALL_TIMEOUT * 10)
                        .await
                        .unwrap_or_else(|e| Response::Failed(e.message))
                }
                None => Response::Failed("the cluster has no leader at the moment".into()),
            };
        }
        let metadata = self.metadata.borrow().clone();
        let found = metadata
            .nodes
            .values()
            .find(|n| n.id.to_string() == who)
            .or_else(|| {
                metadata
                    .nodes
                    .values()
                    .find(|n| n.name == who && n.state.is_member())
            });
        let Some(node) = found else {
            return Response::Failed(format!("the cluster has no node {who:?}"));
        };
        let (id, addr, online) = (
            node.id,
            node.advertise.clone(),
            node.state == NodeState::Online,
        );
        // Its rows would go with it: it first drains, giving its buckets
        // away (its shard 0 moves them, `shard/buckets.rs`), and the
        // caller asks again until it owns none (docs/CLUSTER.md §8). A
        // node that owns none drains too: a move planned before could
        // still be giving it some.
        if !force {
            if online {
                match self.propose(raft, Command::DrainNode { id }).await {
                    Ok(CommandResult::Done) => tracing::info!("node {id} ({addr}) is draining"),
                    Ok(CommandResult::Refused(m)) => return Response::Failed(m),
                    Ok(other) => return Response::Failed(format!("unexpected {other:?}")),
                    Err(e) => return Response::Failed(e.message),
                }
            }
            // With the drain applied here. It owns none only as far as this
            // node's SQL catalog knows: that must hold every move (the
            // records applied are read before the map, which the SQL side
            // updates first), and none may be under way (a move holds the
            // cluster DDL lock until it is decided; one planned before the
            // drain could give the node buckets).
            let metadata = self.metadata.borrow().clone();
            let applied = *self.sql_applied.borrow();
            let owned = self.buckets_view.current(&metadata).owned_by_node(node);
            let settled = metadata.catalog_lock.is_none() && applied >= metadata.catalog.len();
            if owned > 0 || !settled {
                return Response::Draining {
                    node: id,
                    buckets: owned as u64,
                };
            }
        }
        match self.propose(raft, Command::ExpelNode { id }).await {
            Ok(CommandResult::Done) => {}
            Ok(CommandResult::Refused(m)) => return Response::Failed(m),
            Ok(other) => return Response::Failed(format!("unexpected {other:?}")),
            Err(e) => return Response::Failed(e.message),
        }
        tracing::info!("node {id} ({addr}) is expelled");
        let membership = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.contains(&id) {
            let mut rest: BTreeSet<NodeId> = voters.into_iter().filter(|v| *v != id).collect();
            if rest.is_empty() {
                // The only voter goes: the online learners vote instead.
                rest = membership
                    .learner_ids()
                    .filter(|l| {
                        metadata
                            .nodes
                            .get(l)
                            .is_some_and(|n| n.state.is_member() && n.id != id)
                    })
                    .collect();
            }
            if let Err(e) = raft
                .change_membership(ChangeMembers::ReplaceAllVoters(rest), false)
                .await
            {
                // The row says expelled: the governor no longer counts it,
                // and finishes the removal (`balance_voters`).
                tracing::warn!("removing node {id}'s vote: {e}");
            }
        }
        let still = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .is_some();
        if still {
            if let Err(e) = raft
                .change_membership(ChangeMembers::RemoveNodes([id].into()), false)
                .await
            {
                tracing::warn!("removing node {id} from the metadata group: {e}");
            }
        }
        let me = raft.metrics().borrow().id;
        if id == me {
            self.leave(raft).await;
        } else {
            let mut peer = Peer::new(addr, self.config.secret.clone());
            let _ = peer.call(&Request::YouAreExpelled, CALL_TIMEOUT).await;
        }
        Response::Expelled(id)
    }

    /// This node was expelled: it stops taking part in the metadata group
    /// and remembers, so that a restart does not try to rejoin.
    async fn leave(&self, raft: &Raft<TypeConfig>) {
        {
            let mut identity = self.identity.borrow_mut();
            if identity.expelled {
                return;
            }
            identity.expelled = true;
            if let Err(e) = identity.save(&self.raft_dir) {
                tracing::error!("{}", e.message);
            }
        }
        tracing::warn!(
            "this node was expelled from its cluster; it serves what it holds until it stops, its catalog can no longer change, and its data directory cannot rejoin"
        );
        let raft = raft.clone();
        tokio::task::spawn_local(async move {
            let _ = raft.shutdown().await;
        });
    }

    async fn propose(&self, raft: &Raft<TypeConfig>, command: Command) -> Result<CommandResult> {
        commit(raft, command).await.map(|(_, result)| result)
    }

    /// On the leader: gives a joining node its id and makes it a learner
    /// (the governor promotes it to voter when the cluster needs one).
    async fn admit(&self, raft: &Raft<TypeConfig>, record: NodeRecord, wish: TierWish) -> Response {
        let addr = record.advertise.clone();
        let name = record.name.clone();
        let add = Command::AddNode { node: record, wish };
        let id = match self.propose(raft, add).await {
            Ok(CommandResult::NodeId(id)) => id,
            Ok(CommandResult::Refused(m)) => return Response::Refused(m),
            Ok(other) => return Response::Failed(format!("unexpected {other:?}")),
            Err(e) => return Response::Failed(e.message),
        };
        if let Err(e) = raft.add_learner(id, RaftNode { addr }, false).await {
            return Response::Failed(format!("adding node {id} to the metadata group: {e}"));
        }
        tracing::info!("node {id} ({name}) joined");
        let cluster_id = self.metadata.borrow().cluster_id;
        Response::Joined {
            node_id: id,
            cluster_id,
        }
    }

    async fn status(&self, raft: &Raft<TypeConfig>) -> Response {
        if !Self::is_leader(raft) {
            if let Some(addr) = self.leader_addr(raft) {
                let mut peer = Peer::new(addr, self.config.secret.clone());
                if let Ok(r @ Response::Status(_)) = peer.call(&Request::Status, CALL_TIMEOUT).await
                {
                    return r;
                }
            }
        }
        let m = raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let now = Instant::now();
        let leader = m.current_leader;
        let me = m.id;
        let mut last_contact = BTreeMap::new();
        if leader == Some(me) {
            let contact = self.contact.borrow();
            for id in self.metadata.borrow().nodes.keys() {
                let secs = if *id == me {
                    Some(0.0)
                } else {
                    contact
                        .get(id)
                        .map(|c| now.duration_since(c.at).as_secs_f64())
                };
                last_contact.insert(*id, secs);
            }
        }
        Response::Status(Box::new(Status {
            answered_by: me,
            leader,
            term: m.current_term,
            last_applied: m.last_applied.map(|l| l.index),
            metadata: {
                let mut metadata = (**self.metadata.borrow()).clone();
                metadata.buckets = self.buckets_view.current(&metadata);
                metadata
            },
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            last_contact_secs: last_contact,
        }))
    }

    /// The governor: on the leader, keeps every node in the metadata
    /// group and keeps enough live voters.
    async fn govern(self: Rc<Self>) {
        let mut tick = tokio::time::interval(self.config.timing.governor_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(raft) = self.raft() else { continue };
            self.log_leader_change(&raft);
            if !Self::is_leader(&raft) {
                *self.leader_since.borrow_mut() = None;
                self.contact.borrow_mut().clear();
                continue;
            }
            let since = *self
                .leader_since
                .borrow_mut()
                .get_or_insert_with(Instant::now);
            self.ping_all(&raft);
            self.fail_over(&raft, since).await;
            if let Err(e) = self.balance_voters(&raft, since).await {
                tracing::warn!("the governor: {}", e.message);
            }
            self.break_dead_lock(&raft, since).await;
        }
    }

    /// Takes the cluster DDL lock from a node that has not answered for
    /// the voter-down timeout, so one dead node does not stop every
    /// node's DDL; its change, should it come back with one, is refused.
    async fn break_dead_lock(&self, raft: &Raft<TypeConfig>, leader_since: Instant) {
        let me = raft.metrics().borrow().id;
        let Some(holder) = self.metadata.borrow().catalog_lock else {
            return;
        };
        if self.alive(holder, me, leader_since) {
            return;
        }
        match self
            .propose(raft, Command::BreakCatalogLock { node: holder })
            .await
        {
            Ok(_) => tracing::warn!(
                "node {holder} held the cluster DDL lock and has not answered for {:?}: the lock is released",
                self.config.timing.voter_down_timeout
            ),
            Err(e) => tracing::warn!("releasing node {holder}'s DDL lock: {}", e.message),
        }
    }

    fn log_leader_change(&self, raft: &Raft<TypeConfig>) {
        let (leader, term) = {
            let m = raft.metrics();
            let m = m.borrow();
            (m.current_leader, m.current_term)
        };
        self.leader.store(leader.unwrap_or(0), Ordering::Release);
        let mut seen = self.seen_leader.borrow_mut();
        if seen.0 != leader {
            if seen.0.is_some() {
                self.previous_leader.set(seen.0);
            }
            match leader {
                Some(id) => tracing::info!("node {id} leads the metadata group (term {term})"),
                None => tracing::warn!("the metadata group has no leader (term {term})"),
            }
            *seen = (leader, term);
        }
    }

    /// Pings every other member (a ping still out is not sent again); the
    /// answers land in `contact` as they come, so one silent node holds
    /// up neither the others' pings nor their leases. While this leader
    /// lately heard from a quorum, the pings grant leases, and its own
    /// node takes one.
    fn ping_all(self: &Rc<Self>, raft: &Raft<TypeConfig>) {
        let metrics = raft.metrics().borrow().clone();
        let me = metrics.id;
        let lease = self.config.timing.lease();
        let alone = metrics.membership_config.membership().voter_ids().count() <= 1;
        let quorum_ago = match alone {
            true => Some(Duration::ZERO),
            false => metrics.millis_since_quorum_ack.map(Duration::from_millis),
        };
        let grant = quorum_ago.is_some_and(|ago| ago < lease / 2);
        if let Some(ago) = quorum_ago.filter(|_| grant) {
            if let Some(heard) = Instant::now().checked_sub(ago) {
                self.masters.renew_lease(heard + lease);
            }
        }
        let nodes: Vec<(NodeId, String)> = self
            .metadata
            .borrow()
            .nodes
            .values()
            .filter(|n| n.state.is_member() && n.id != me)
            .map(|n| (n.id, n.advertise.clone()))
            .collect();
        for (id, addr) in nodes {
            if !self.pinging.borrow_mut().insert(id) {
                continue;
            }
            let secret = self.config.secret.clone();
            // A node that is merely slow is not taken for dead: the
            // answer may take longer than the governor's interval.
            let timeout = lease.max(Duration::from_millis(100));
            let service = self.clone();
            tokio::task::spawn_local(async move {
                let asked = Instant::now();
                let mut peer = Peer::new(addr, secret);
                let answer = peer.call(&Request::Hello { lease: grant }, timeout).await;
                service.pinging.borrow_mut().remove(&id);
                // Not for a later term's leader, which starts afresh.
                if let (Ok(Response::Hello(hello)), true) =
                    (answer, service.leader_since.borrow().is_some())
                {
                    service.contact.borrow_mut().insert(
                        id,
                        Contact {
                            at: Instant::now(),
                            asked,
                            log_ends: hello.log_ends,
                        },
                    );
                }
            });
        }
    }

    /// Failover (docs/CLUSTER.md §6): for each node that is master of
    /// shards and has not answered for the failover timeout, promotes the
    /// member of its replica group that answers and whose logs of those
    /// shards reach furthest. The new master takes requests once it has
    /// stopped copying and said where its writes begin (`StartEpoch`).
    async fn fail_over(&self, raft: &Raft<TypeConfig>, leader_since: Instant) {
        let limit = self.config.timing.failover_timeout;
        let me = raft.metrics().borrow().id;
        let metadata = self.metadata.borrow().clone();
        if metadata.max_replication_factor() < 2 {
            return;
        }
        // Silent since it last answered this leader; one that never did,
        // since this node leads, and the leader before it for openraft's
        // leader lease (`election_max`) before that: a voter grants no
        // vote while it heard from a leader within the lease, so a
        // majority had not heard from the old one for that long when
        // they elected this one, and none of its quorums since reached
        // past that.
        let previous_silent = |id: NodeId| {
            (Some(id) == self.previous_leader.get() && !self.contact.borrow().contains_key(&id))
                .then_some(self.config.timing.election_max)
        };
        let silent_for = |id: NodeId| match self.contact.borrow().get(&id) {
            Some(c) => c.at.elapsed(),
            None => leader_since.elapsed() + previous_silent(id).unwrap_or_default(),
        };
        let answers = |id: NodeId| id == me || silent_for(id) < limit;
        let silent: BTreeSet<NodeId> = metadata
            .masters
            .values()
            .map(|m| m.node)
            .filter(|n| !answers(*n))
            .collect();
        for from in silent {
            let Some(first) = metadata.nodes.get(&from).map(|n| n.first_shard) else {
                continue;
            };
            let shards: Vec<u16> = metadata
                .masters
                .iter()
                .filter(|(_, m)| m.node == from)
                .map(|(s, _)| *s)
                .collect();
            let ends_of = |id: NodeId| match id == me {
                true => self.masters.log_ends(),
                false => self
                    .contact
                    .borrow()
                    .get(&id)
                    .map(|c| c.log_ends.clone())
                    .unwrap_or_default(),
            };
            // In sync mode, a member's report counts only if asked once the
            // master's lease ran out (it last answered, or this leader took
            // over, at least a lease before): the master acknowledged
            // nothing since, so the report holds whatever it had a
            // majority acknowledge.
            let master_seen = match self.contact.borrow().get(&from) {
                Some(c) => c.at,
                // Its own lease came from a quorum that long ago at the
                // latest.
                None => previous_silent(from)
                    .and_then(|before| leader_since.checked_sub(before))
                    .unwrap_or(leader_since),
            };
            let lease_out = master_seen + self.config.timing.lease();
            let sync = metadata.group_tier(first).replication_mode == ReplicationMode::Sync;
            let fresh = |id: NodeId| {
                id == me
                    || self
                        .contact
                        .borrow()
                        .get(&id)
                        .is_some_and(|c| !sync || c.asked > lease_out)
            };
            // Only a member whose logs' ends it reported.
            let heard: Vec<&NodeRecord> = metadata
                .group(first)
                .into_iter()
                .filter(|n| {
                    n.id != from && n.state == NodeState::Online && fresh(n.id) && answers(n.id)
                })
                .collect();
            let needed = metadata.heirs_heard(first);
            if heard.len() < needed {
                let others = metadata.group(first).len() > 1;
                if sync && others && self.heirs_unheard.borrow_mut().insert(from) {
                    tracing::warn!(
                        "node {from}, master of shards {shards:?}, has not answered for {limit:?}, but only {} of the other members of its replica group answer; in sync mode {needed} must, so that the one promoted holds every acknowledged commit",
                        heard.len(),
                    );
                }
                continue;
            }
            self.heirs_unheard.borrow_mut().remove(&from);
            let heard: Vec<Heir> = heard
                .into_iter()
                .map(|n| Heir {
                    node: n.id,
                    slot: n.slot,
                    log_ends: ends_of(n.id),
                })
                .collect();
            for (heir, taken) in heirs(first, &shards, &heard, sync) {
                let promote = Command::PromoteShards {
                    first_shard: first,
                    node: heir,
                    from,
                    shards: taken.clone(),
                };
                match self.propose(raft, promote).await {
                    Ok(CommandResult::Done) => tracing::warn!(
                        "node {from}, master of shards {shards:?}, has not answered for {limit:?}: node {heir} takes over shards {taken:?}"
                    ),
                    Ok(other) => tracing::warn!("promoting node {heir}: {other:?}"),
                    Err(e) => tracing::warn!("promoting node {heir}: {}", e.message),
                }
            }
        }
    }

    fn alive(&self, id: NodeId, me: NodeId, leader_since: Instant) -> bool {
        let limit = self.config.timing.voter_down_timeout;
        if id == me || leader_since.elapsed() < limit {
            return true;
        }
        self.contact
            .borrow()
            .get(&id)
            .is_some_and(|c| c.at.elapsed() < limit)
    }

    async fn balance_voters(&self, raft: &Raft<TypeConfig>, leader_since: Instant) -> Result<()> {
        let m = raft.metrics().borrow().clone();
        let me = m.id;
        let membership = m.membership_config.membership().clone();
        if membership.get_joint_config().len() > 1 {
            return Ok(()); // a change is under way
        }
        let metadata = self.metadata.borrow().clone();
        // An expelled node whose removal from the group was interrupted
        // (a leader change in between) is removed now.
        let expelled: BTreeSet<NodeId> = membership
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| {
                metadata
                    .nodes
                    .get(id)
                    .is_some_and(|n| n.state == NodeState::Expelled)
            })
            .collect();
        if !expelled.is_empty() {
            let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
            let change = if voters.iter().any(|v| expelled.contains(v)) {
                ChangeMembers::ReplaceAllVoters(voters.difference(&expelled).copied().collect())
            } else {
                ChangeMembers::RemoveNodes(expelled)
            };
            raft.change_membership(change, false)
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
            return Ok(());
        }
        // Every online node is a member (a join interrupted between its
        // row and its learner entry is finished here).
        for node in metadata.nodes.values() {
            if node.state.is_member() && membership.get_node(&node.id).is_none() {
                raft.add_learner(
                    node.id,
                    RaftNode {
                        addr: node.advertise.clone(),
                    },
                    false,
                )
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
            }
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let live = metadata
            .nodes
            .values()
            .filter(|n| n.state.is_member() && self.alive(n.id, me, leader_since))
            .count();
        let target = voter_target(live);
        let caught_up = |id: &NodeId| {
            m.replication
                .as_ref()
                .and_then(|r| r.get(id).copied().flatten())
                .zip(m.last_log_index)
                .is_some_and(|(matched, last)| matched.index + 100 >= last)
        };
        let mut candidates: Vec<NodeId> = membership
            .learner_ids()
            .filter(|id| {
                metadata.nodes.get(id).is_some_and(|n| n.state.is_member())
                    && self.alive(*id, me, leader_since)
                    && caught_up(id)
            })
            .collect();
        let mut next: BTreeSet<NodeId> = voters.clone();
        // Replace dead voters while there is someone to replace them with.
        for dead in voters.iter().filter(|v| !self.alive(**v, me, leader_since)) {
            if candidates.is_empty() {
                break;
            }
            next.remove(dead);
            let pick = pick_spread(&metadata, &next, &mut candidates);
            next.insert(pick);
        }
        while next.len() < target && !candidates.is_empty() {
            let pick = pick_spread(&metadata, &next, &mut candidates);
            next.insert(pick);
        }
        // More voters than live nodes call for: drop dead ones, two at a
        // time so the count stays odd (five voters with two down survive
        // no further failure; the three live ones alone survive one).
        let mut dead: Vec<NodeId> = next
            .iter()
            .copied()
            .filter(|v| !self.alive(*v, me, leader_since))
            .collect();
        while next.len() >= target + 2 && dead.len() >= 2 {
            for v in dead.drain(..2) {
                next.remove(&v);
            }
        }
        if next != voters {
            tracing::info!("the governor changes the metadata voters from {voters:?} to {next:?}");
            raft.change_membership(ChangeMembers::ReplaceAllVoters(next), true)
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
        }
        Ok(())
    }
}

/// Voters for a cluster of `online` nodes: an odd number (an even one
/// tolerates no more failures than the odd one below it), at most
/// [`MAX_VOTERS`].
pub fn voter_target(online: usize) -> usize {
    let n = online.clamp(1, MAX_VOTERS);
    if n.is_multiple_of(2) {
        n - 1
    } else {
        n
    }
}

/// Takes from `candidates` the one whose failure domains are least
/// represented among `voters` (ties: the lowest id).
fn pick_spread(
    metadata: &Metadata,
    voters: &BTreeSet<NodeId>,
    candidates: &mut Vec<NodeId>,
) -> NodeId {
    let overlap = |id: &NodeId| -> usize {
        let Some(node) = metadata.nodes.get(id) else {
            return 0;
        };
        voters
            .iter()
            .filter_map(|v| metadata.nodes.get(v))
            .map(|v| {
                node.failure_domain
                    .iter()
                    .filter(|(k, val)| v.failure_domain.get(*k) == Some(val))
                    .count()
            })
            .sum()
    };
    candidates.sort_by_key(|id| (overlap(id), *id));
    candidates.remove(0)
}

async fn accept_loop(node: Rc<Node>, listener: TcpListener) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("the cluster listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::task::spawn_local(serve(node.clone(), stream, from));
    }
}

async fn serve(node: Rc<Node>, mut stream: TcpStream, from: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let handshake = handshake_server(&mut stream, &node.config.secret);
    match tokio::time::timeout(crate::wire::CONNECT_TIMEOUT, handshake).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!("refused a cluster connection from {from}: {}", e.message);
            return;
        }
        Err(_) => {
            tracing::warn!("refused a cluster connection from {from}: no handshake in time");
            return;
        }
    }
    loop {
        let request = match read_frame::<Request, _>(&mut stream).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("closed a cluster connection from {from}: {}", e.message);
                return;
            }
        };
        if let Request::ShardChannel = request {
            let Some(service) = node.config.shard_service.clone() else {
                let refused = Response::Failed("this node serves no shard requests".to_string());
                let _ = write_frame(&mut stream, &refused).await;
                return;
            };
            if write_frame(&mut stream, &Response::ShardChannel)
                .await
                .is_ok()
            {
                crate::shards::serve_channel(stream, service.0, from).await;
            }
            return;
        }
        let response = node.handle(request).await;
        if write_frame(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

/// A member of a silent master's group that may take its place, with how
/// far its copy of each of the group's shards reaches (by index in the
/// group, as `Hello` reports them).
struct Heir {
    node: NodeId,
    slot: u8,
    log_ends: Vec<u64>,
}

/// Who takes over each of `shards` (cluster-wide numbers, of the group
/// starting at `first`) from a silent master, each heir with its shards.
/// A copy reaching further holds every record a shorter one holds (both
/// are prefixes of the master's log). A member whose copy of every shard
/// reaches as far as any other's takes them all (the furthest in all of
/// them, then the lowest slot, if several): the group's masters stay on
/// one node. Members' copies of different shards need not be ahead
/// together (one may have started copying a shard later); then in async
/// mode the member furthest in all takes them all (what it lacks of a
/// shard is lost, as async mode may lose what a master acknowledged),
/// and in sync mode (`sync`) each shard goes to the member furthest on
/// it, the one sure to hold every commit acknowledged there.
fn heirs(first: u16, shards: &[u16], heard: &[Heir], sync: bool) -> BTreeMap<NodeId, Vec<u16>> {
    let end = |h: &Heir, shard: u16| {
        shard
            .checked_sub(first)
            .and_then(|i| h.log_ends.get(i as usize))
            .copied()
            .unwrap_or(0)
    };
    let total = |h: &Heir| shards.iter().map(|s| end(h, *s) as u128).sum::<u128>();
    let rank = |h: &&Heir| (total(h), std::cmp::Reverse(h.slot));
    let furthest_on_all = heard
        .iter()
        .filter(|h| {
            shards
                .iter()
                .all(|s| heard.iter().all(|o| end(h, *s) >= end(o, *s)))
        })
        .max_by_key(rank)
        .or_else(|| heard.iter().max_by_key(rank).filter(|_| !sync));
    if let Some(h) = furthest_on_all {
        return BTreeMap::from([(h.node, shards.to_vec())]);
    }
    let mut out: BTreeMap<NodeId, Vec<u16>> = BTreeMap::new();
    for shard in shards {
        let heir = heard
            .iter()
            .max_by_key(|h| (end(h, *shard), total(h), std::cmp::Reverse(h.slot)));
        if let Some(h) = heir {
            out.entry(h.node).or_default().push(*shard);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shard_goes_to_a_member_whose_copy_of_it_reaches_furthest() {
        let heir = |node, slot, log_ends: &[u64]| Heir {
            node,
            slot,
            log_ends: log_ends.to_vec(),
        };
        // Shards 4 and 5. Node 3 is as far as node 2 on both: it takes both.
        let heard = [heir(2, 1, &[500, 900]), heir(3, 2, &[500, 1000])];
        for sync in [false, true] {
            let got = heirs(4, &[4, 5], &heard, sync);
            assert_eq!(got, BTreeMap::from([(3, vec![4, 5])]));
        }
        // Level everywhere: the lower slot.
        let heard = [heir(3, 2, &[500, 900]), heir(2, 1, &[500, 900])];
        assert_eq!(
            heirs(4, &[4, 5], &heard, true),
            BTreeMap::from([(2, vec![4, 5])])
        );
        // Node 2 is ahead on 5, node 3 on 4 (its copy of 5 started late).
        let heard = [heir(2, 1, &[0, 1997]), heir(3, 2, &[1883, 1700])];
        // Sync mode: each shard to the one holding all it acknowledged.
        let got = heirs(4, &[4, 5], &heard, true);
        assert_eq!(got, BTreeMap::from([(2, vec![5]), (3, vec![4])]));
        // Async mode: the furthest in all takes both.
        let got = heirs(4, &[4, 5], &heard, false);
        assert_eq!(got, BTreeMap::from([(3, vec![4, 5])]));
        // Only the silent master's shards are given.
        assert_eq!(heirs(4, &[5], &heard, true), BTreeMap::from([(2, vec![5])]));
        assert!(heirs(4, &[4, 5], &[], true).is_empty());
    }

    #[test]
    fn voter_counts_are_odd_and_capped() {
        let got: Vec<usize> = (0..=8).map(voter_target).collect();
        assert_eq!(got, vec![1, 1, 1, 3, 3, 5, 5, 5, 5]);
    }

    #[test]
    fn identities_round_trip() {
        let id = Identity {
            uuid: 0xabc,
            node_id: Some(3),
            cluster_id: Some(0xdef),
            expelled: true,
            format: METADATA_FORMAT,
        };
        let dir = std::env::temp_dir().join(format!("tessera-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        id.save(&dir).unwrap();
        assert_eq!(Identity::load_or_create(&dir).unwrap(), id);
        // One written before the format was kept: its log cannot be read.
        let path = dir.join(IDENTITY_FILE);
        let old = std::fs::read_to_string(&path).unwrap();
        let old: String = old
            .lines()
            .filter(|l| !l.starts_with("metadata_format"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, old).unwrap();
        let e = Identity::load_or_create(&dir).unwrap_err();
        assert!(e.message.contains("format 1"), "{}", e.message);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
