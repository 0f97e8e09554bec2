//! The internal transport: after the handshake (`secret.rs`), a
//! connection carries request frames one way and response frames the
//! other, strictly alternating (a connection that asked for a
//! `ShardChannel` then carries many shard requests at once: `shards.rs`).
//! A frame is a 4-byte big-endian length and
//! a postcard-encoded message; a length over [`MAX_FRAME_BYTES`] or a
//! message that does not decode closes the connection.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RaftNetwork, RaftNetworkFactory, Snapshot, SnapshotMeta, Vote};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tessera_types::{sqlstate, Error, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::secret::{handshake_client, ClusterSecret};
use crate::state::{
    Command, CommandResult, Metadata, NodeId, NodeRecord, RaftNode, TierWish, TypeConfig,
};

/// The largest frame either side accepts (a metadata snapshot is the
/// largest message; the catalog of a big schema fits many times over).
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// How long connecting and the handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Discovery: who are you, and are you in a cluster? From the Raft
    /// leader's governor, also a ping; `lease`: the leader lately heard
    /// from a quorum, so the node may take writes as a master for a lease
    /// from now (docs/CLUSTER.md §6).
    Hello {
        lease: bool,
    },
    /// A fresh node asks the leader for an id.
    Join(NodeRecord, TierWish),
    /// A known node's addresses changed; sent to the leader.
    Update(NodeRecord),
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot {
        vote: Vote<NodeId>,
        meta: SnapshotMeta<NodeId, RaftNode>,
        data: Vec<u8>,
    },
    /// The cluster's state, as `tessera status` prints it.
    Status,
    /// `tessera expel`: a node (by id or name) leaves for good; `force`:
    /// even if it owns buckets (their rows are lost).
    Expel {
        node: String,
        force: bool,
    },
    /// From the leader to a node it expelled: stop taking part.
    YouAreExpelled,
    /// From now on this connection carries shard requests, many at a time
    /// (see `shards.rs`); answered `ShardChannel` or `Failed`.
    ShardChannel,
    /// To the leader: propose a catalog command (`catalog.rs`); answered
    /// `Proposed` once committed.
    Propose(Command),
    /// From a node that committed catalog records: answer once your SQL
    /// catalog holds this many (or after a while, saying it does not).
    CatalogApplied(u64),
    /// Answer once this node's copy of the global tables holds this many
    /// writes (or after a while, with `false`).
    GlobalsApplied(u64),
    /// Answer once this node's sequences have observed the positions this
    /// many claims made (or after a while, with `false`).
    ClaimsObserved(u64),
    /// Fault injection (`tessera fault`, for tests of partitions): from
    /// now on this node acts as if it could not reach these internal
    /// addresses (none: heals). Answered `Updated`.
    CutOff(Vec<String>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Hello(Hello),
    Joined {
        node_id: NodeId,
        cluster_id: u128,
    },
    Updated,
    /// Not the leader; ask this address instead (None: no leader known).
    NotLeader(Option<String>),
    AppendEntries(std::result::Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(std::result::Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(std::result::Result<SnapshotResponse<NodeId>, String>),
    Status(Box<Status>),
    Expelled(NodeId),
    /// The connection now carries shard requests.
    ShardChannel,
    /// The command is committed at this log index, with this result.
    Proposed {
        index: u64,
        result: CommandResult,
    },
    /// Whether the SQL catalog holds the records asked about.
    CatalogApplied(bool),
    GlobalsApplied(bool),
    /// The request was understood but failed.
    Failed(String),
    /// A join the cluster's tables refuse (and would refuse again).
    Refused(String),
    /// `tessera expel` of a node that still owns buckets: it is draining
    /// (giving them away); ask again to expel it once it owns none.
    Draining {
        node: NodeId,
        buckets: u64,
    },
    /// Whether the node's sequences observed the claims asked about.
    ClaimsObserved(bool),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub advertise: String,
    /// The cluster this node is in, if any.
    pub cluster_id: Option<u128>,
    pub node_id: Option<NodeId>,
    /// The leader's internal address, when known.
    pub leader: Option<String>,
    /// How far each of its shard logs reaches (by shard number on the
    /// node): the governor promotes the member that holds the most.
    pub log_ends: Vec<u64>,
}

/// What `tessera status` shows: the leader's view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub answered_by: NodeId,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_applied: Option<u64>,
    pub metadata: Metadata,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    /// Per node: seconds since the leader last heard from it (None: never
    /// since it became leader).
    pub last_contact_secs: BTreeMap<NodeId, Option<f64>>,
}

fn closed(what: &str) -> Error {
    Error::new(sqlstate::CONNECTION_FAILURE, what.to_string())
}

pub async fn write_frame<T: Serialize, W: AsyncWrite + Unpin>(
    stream: &mut W,
    message: &T,
) -> Result<()> {
    let payload = postcard::to_allocvec(message)
        .map_err(|e| Error::internal(format!("encoding a cluster message: {e}")))?;
    if payload.len() > MAX_FRAME_BYTES {
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "a cluster message of {} bytes is over the limit of {MAX_FRAME_BYTES}",
                payload.len()
            ),
        ));
    }
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    stream
        .write_all(&frame)
        .await
        .map_err(|e| Error::io("sending a cluster message", e))
}

/// Reads one frame; `Ok(None)` when the peer closed the connection
/// between frames.
pub async fn read_frame<T: DeserializeOwned, R: AsyncRead + Unpin>(
    stream: &mut R,
) -> Result<Option<T>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(Error::io("reading a cluster message", e)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(Error::new(
            sqlstate::PROTOCOL_VIOLATION,
            format!("a cluster frame of {len} bytes is over the limit of {MAX_FRAME_BYTES}"),
        ));
    }
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(|_| closed("the peer closed the connection inside a message"))?;
    postcard::from_bytes(&payload).map(Some).map_err(|e| {
        Error::new(
            sqlstate::PROTOCOL_VIOLATION,
            format!("an undecodable cluster message: {e}"),
        )
    })
}

/// The internal addresses this node acts as if it could not reach
/// (`Request::CutOff`).
static CUT_OFF: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// From now on, the node acts as if it could not reach `addrs`.
pub fn set_cut_off(addrs: Vec<String>) {
    if let Ok(mut cut) = CUT_OFF.write() {
        *cut = addrs;
    }
}

/// Fails if the node acts as if it could not reach `addr`.
pub fn check_reachable(addr: &str) -> Result<()> {
    let cut = CUT_OFF
        .read()
        .is_ok_and(|cut| cut.iter().any(|a| a == addr));
    match cut {
        true => Err(closed(&format!(
            "{addr} is cut off from this node (tessera fault)"
        ))),
        false => Ok(()),
    }
}

/// Connects to `addr` and passes the handshake, within [`CONNECT_TIMEOUT`].
pub async fn connect(addr: &str, secret: &ClusterSecret) -> Result<TcpStream> {
    check_reachable(addr)?;
    let connect = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::io(&format!("connecting to {addr}"), e))?;
        let _ = s.set_nodelay(true);
        handshake_client(&mut s, secret).await?;
        Ok(s)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(r) => r,
        Err(_) => Err(closed(&format!("connecting to {addr} timed out"))),
    }
}

/// A connection to one peer, made on first use and again after a failure.
pub struct Peer {
    addr: String,
    secret: ClusterSecret,
    conn: Option<TcpStream>,
}

impl Peer {
    pub fn new(addr: String, secret: ClusterSecret) -> Peer {
        Peer {
            addr,
            secret,
            conn: None,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn connect(&self) -> Result<TcpStream> {
        connect(&self.addr, &self.secret).await
    }

    /// Sends a request and waits up to `timeout` for its response. On any
    /// failure the connection is dropped (a late response must not be
    /// taken for the next request's).
    pub async fn call(&mut self, request: &Request, timeout: Duration) -> Result<Response> {
        if let Err(e) = check_reachable(&self.addr) {
            self.conn = None;
            return Err(e);
        }
        let conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let exchange = async move {
            let mut conn = conn;
            write_frame(&mut conn, request).await?;
            match read_frame::<Response, _>(&mut conn).await? {
                Some(r) => Ok((r, conn)),
                None => Err(closed("the peer closed the connection")),
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((response, conn))) => {
                // A partition (`tessera fault`) cuts answers on their way too.
                check_reachable(&self.addr)?;
                self.conn = Some(conn);
                Ok(response)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(closed(&format!(
                "{} did not answer within {} ms",
                self.addr,
                timeout.as_millis()
            ))),
        }
    }
}

#[derive(Debug)]
struct WireError(String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

fn unexpected(response: Response) -> WireError {
    WireError(format!("an unexpected response: {response:?}"))
}

/// Opens [`RaftClient`]s for openraft.
pub struct RaftNetworkImpl {
    pub secret: ClusterSecret,
}

impl RaftNetworkFactory<TypeConfig> for RaftNetworkImpl {
    type Network = RaftClient;

    async fn new_client(&mut self, target: NodeId, node: &RaftNode) -> RaftClient {
        RaftClient {
            target,
            peer: Peer::new(node.addr.clone(), self.secret.clone()),
        }
    }
}

/// Raft messages to one member.
pub struct RaftClient {
    target: NodeId,
    peer: Peer,
}

impl RaftClient {
    async fn call(
        &mut self,
        request: &Request,
        option: &RPCOption,
    ) -> std::result::Result<Response, Unreachable> {
        self.peer
            .call(request, option.hard_ttl())
            .await
            .map_err(|e| Unreachable::new(&WireError(e.message.clone())))
    }
}

impl RaftNetwork<TypeConfig> for RaftClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> std::result::Result<
        AppendEntriesResponse<NodeId>,
        RPCError<NodeId, RaftNode, RaftError<NodeId>>,
    > {
        match self.call(&Request::AppendEntries(rpc), &option).await? {
            Response::AppendEntries(Ok(r)) => Ok(r),
            Response::AppendEntries(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(RPCError::Network(NetworkError::new(&unexpected(other)))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> std::result::Result<VoteResponse<NodeId>, RPCError<NodeId, RaftNode, RaftError<NodeId>>>
    {
        match self.call(&Request::Vote(rpc), &option).await? {
            Response::Vote(Ok(r)) => Ok(r),
            Response::Vote(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(RPCError::Network(NetworkError::new(&unexpected(other)))),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> std::result::Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>>
    {
        let request = Request::Snapshot {
            vote,
            meta: snapshot.meta,
            data: *snapshot.snapshot,
        };
        match self.call(&request, &option).await? {
            Response::Snapshot(Ok(r)) => Ok(r),
            Response::Snapshot(Err(e)) => {
                Err(StreamingError::Network(NetworkError::new(&WireError(e))))
            }
            other => Err(StreamingError::Network(NetworkError::new(&unexpected(
                other,
            )))),
        }
    }
}
