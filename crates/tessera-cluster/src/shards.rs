//! Shard requests between nodes: "run this request on shard S of node N".
//!
//! The cluster layer does not know what a shard request is (tessera-sql
//! is its sibling, not its dependency): a request and its response are
//! opaque bytes here, encoded and decoded by `tessera_sql::wire`. The node
//! installs a [`ShardService`] that runs them (tessera-runtime's
//! `RemoteShards` posts each into the target shard's mailbox, as a local
//! router would).
//!
//! One connection per peer node carries every shard request to it, many
//! at once: a connection opens with `Request::ShardChannel`, then the
//! caller sends [`ShardFrame`]s (a call tagged with an id, or a cancel of
//! one) and the server answers each call with a [`ShardReply`] of the same
//! id, in whatever order they finish, so a slow request does not hold up
//! the others. A pool of one-request connections would need as many
//! connections (and handshakes) as requests in flight; one multiplexed
//! connection needs none per request.
//!
//! Guarantees:
//! - A caller that gives up (its future dropped, or its timeout passed)
//!   sends `Cancel`: the server fires the request's interrupt, so an
//!   interruptible request (a read or write refused whole) stops where it
//!   would stop for a local cancel; a late reply is discarded.
//! - A connection that fails (the peer died, a reset, a bad frame) fails
//!   every call waiting on it at once with 08006, and the server cancels
//!   every request the connection had in flight. The next call connects
//!   again.
//! - The server never panics on a bad frame: it closes the connection.
//! - At most [`SHARD_CALLS_IN_FLIGHT_MAX`] calls per connection: callers
//!   beyond it wait for a slot; a peer that sends more is cut off.
//!
//! - Every call and every reply carries the sender's hybrid-logical-clock
//!   reading ([`HybridClock`]); the receiver observes it before it goes
//!   on, so whatever the request does there is timestamped above what the
//!   caller had seen, and the caller's clock passes the server's. A reading
//!   too far ahead is refused (the call fails with 58000).
//!
//! - Every call carries the caller's floor, the oldest snapshot its own
//!   statements may read at; the server prunes no version such a snapshot
//!   needs while the connection lasts (and a grace period after).
//!
//! - A request or response larger than [`PART_BYTES`] travels as several
//!   frames (`ShardFrame::Part`, a `ShardReply` with `part`), joined
//!   again by the receiver, up to [`SHARD_MESSAGE_MAX_BYTES`] (54000 past
//!   it); another call's frames may go between them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_types::interrupt::Interrupt;
use tessera_types::{sqlstate, Error, Result};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::secret::ClusterSecret;
use crate::wire::{connect, read_frame, write_frame, Request, Response, MAX_FRAME_BYTES};

/// Calls one connection carries at once, each way. A caller past it waits
/// for a slot; a peer that sends more is cut off (a protocol violation).
pub const SHARD_CALLS_IN_FLIGHT_MAX: usize = 1024;

/// The cluster service thread's stack: the installed [`ShardService`]
/// decodes requests on it, and the most deeply nested request accepted
/// needs `tessera_sql::wire::DECODE_STACK_BYTES` (16 MiB) in a debug build.
pub const SERVICE_STACK_BYTES: usize = 32 << 20;

/// A request or response larger than this goes in frames of this size.
pub const PART_BYTES: usize = 8 << 20;

/// The largest request or response between nodes: one larger fails alone,
/// with 54000, instead of breaking the connection. A peer that sends a
/// larger one is cut off.
pub const SHARD_MESSAGE_MAX_BYTES: usize = 1 << 30;

const _: () = assert!(PART_BYTES + 1024 < MAX_FRAME_BYTES);

/// Splits `bytes` into the parts it travels in (the last one last).
fn into_parts(bytes: Vec<u8>) -> Vec<Vec<u8>> {
    if bytes.len() <= PART_BYTES {
        return vec![bytes];
    }
    bytes.chunks(PART_BYTES).map(<[u8]>::to_vec).collect()
}

fn too_large(what: &str, len: usize) -> Error {
    Error::new(
        sqlstate::PROGRAM_LIMIT_EXCEEDED,
        format!("a shard {what} of {len} bytes is over the limit of {SHARD_MESSAGE_MAX_BYTES} between nodes"),
    )
}

/// Parts received so far, per call id.
#[derive(Default)]
struct Parts {
    by_id: HashMap<u64, Vec<u8>>,
    bytes: usize,
}

impl Parts {
    /// Adds a part of call `id`; false if that takes the call's message
    /// past the limit.
    fn add(&mut self, id: u64, part: Vec<u8>) -> bool {
        let so_far = self.by_id.entry(id).or_default();
        if so_far.len() + part.len() > SHARD_MESSAGE_MAX_BYTES {
            return false;
        }
        self.bytes += part.len();
        so_far.extend_from_slice(&part);
        true
    }

    /// The whole message of call `id`, its `last` part last.
    fn finish(&mut self, id: u64, last: Vec<u8>) -> Vec<u8> {
        match self.by_id.remove(&id) {
            Some(mut whole) => {
                self.bytes -= whole.len();
                whole.extend_from_slice(&last);
                whole
            }
            None => last,
        }
    }

    fn forget(&mut self, id: u64) {
        if let Some(gone) = self.by_id.remove(&id) {
            self.bytes -= gone.len();
        }
    }
}

/// The future a [`ShardService`] returns; it runs on the cluster
/// service's thread.
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A node's hybrid logical clock (tessera-storage's `Timeline`).
pub trait HybridClock: Send + Sync + 'static {
    /// The latest reading.
    fn now(&self) -> u64;
    /// Another node's reading: later readings here are above it. Fails for
    /// one too far ahead of this node's wall clock.
    fn observe(&self, reading: u64) -> Result<()>;
    /// The oldest snapshot this node's own statements may still read at:
    /// calls carry it so that the serving node keeps the versions they
    /// need (see tessera-storage's `Timeline::remote_floor`).
    fn floor(&self) -> u64;
}

/// What runs shard requests from other nodes on this node's shards.
pub trait ShardService: HybridClock {
    /// Runs encoded request `request` on local shard `shard` and returns
    /// the encoded response, or the shard's error. `interrupt` fires when
    /// the caller cancels or its connection is lost.
    /// The call came over connection `connection` (see
    /// [`ShardService::channel_closed`]).
    fn call(
        &self,
        connection: u64,
        shard: u16,
        request: Vec<u8>,
        interrupt: Arc<Interrupt>,
    ) -> LocalBoxFuture<Result<Vec<u8>>>;
    /// The calling node's floor as a call over connection `connection`
    /// carried it; `None` when the connection closed.
    fn remote_floor(&self, connection: u64, floor: Option<u64>);
    /// Connection `connection` closed: what its calls left open (the
    /// transaction blocks they worked for) has no router any more.
    fn channel_closed(&self, connection: u64);
}

/// Numbers the shard channels a node serves, for their floors.
static CHANNELS: AtomicU64 = AtomicU64::new(1);

/// A [`ShardService`] for `ClusterConfig` (which is `Debug` and `Clone`).
#[derive(Clone)]
pub struct ShardServiceRef(pub Arc<dyn ShardService>);

impl std::fmt::Debug for ShardServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShardService")
    }
}

/// From the calling node to the serving one.
#[derive(Debug, Serialize, Deserialize)]
pub enum ShardFrame {
    Call {
        id: u64,
        shard: u16,
        /// How long the caller waits (0: no limit): the request's own
        /// statement timeout on the serving node.
        timeout_ms: u64,
        /// The caller's clock.
        clock: u64,
        /// The caller's floor ([`HybridClock::floor`]).
        floor: u64,
        #[serde(with = "tessera_types::wire::bytes")]
        request: Vec<u8>,
    },
    Cancel {
        id: u64,
    },
    /// A leading part of call `id`'s request: its `Call` carries the last.
    Part {
        id: u64,
        #[serde(with = "tessera_types::wire::bytes")]
        bytes: Vec<u8>,
    },
}

/// The answer to call `id`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardReply {
    pub id: u64,
    /// The server's clock when it answered.
    pub clock: u64,
    pub result: std::result::Result<Payload, Error>,
    /// A leading part of the response: more follow.
    pub part: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Payload(#[serde(with = "tessera_types::wire::bytes")] pub Vec<u8>);

fn lost(addr: &str) -> Error {
    Error::new(
        sqlstate::CONNECTION_FAILURE,
        format!("lost the connection to node {addr} during a shard request"),
    )
}

// ---------------------------------------------------------------------
// The serving side.

/// Serves a connection that asked for a shard channel, until it closes.
pub(crate) async fn serve_channel(
    stream: TcpStream,
    service: Arc<dyn ShardService>,
    from: std::net::SocketAddr,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (replies, mut outgoing) = mpsc::channel::<ShardReply>(SHARD_CALLS_IN_FLIGHT_MAX);
    let writing = tokio::task::spawn_local(async move {
        while let Some(reply) = outgoing.recv().await {
            if write_frame(&mut writer, &reply).await.is_err() {
                return;
            }
        }
    });
    let in_flight: Rc<RefCell<HashMap<u64, Arc<Interrupt>>>> = Rc::default();
    let connection = CHANNELS.fetch_add(1, Ordering::Relaxed);
    let mut parts = Parts::default();
    loop {
        let frame = match read_frame::<ShardFrame, _>(&mut reader).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!("closed a shard channel from {from}: {}", e.message);
                break;
            }
        };
        match frame {
            ShardFrame::Call {
                id,
                shard,
                timeout_ms,
                clock,
                floor,
                request,
            } => {
                let request = parts.finish(id, request);
                // Before the request runs: no version it needs is pruned
                // from here on.
                service.remote_floor(connection, Some(floor));
                let interrupt = Interrupt::new();
                {
                    let mut calls = in_flight.borrow_mut();
                    if calls.len() >= SHARD_CALLS_IN_FLIGHT_MAX || calls.contains_key(&id) {
                        tracing::warn!(
                            "closed a shard channel from {from}: over {SHARD_CALLS_IN_FLIGHT_MAX} calls or a reused id"
                        );
                        break;
                    }
                    calls.insert(id, interrupt.clone());
                }
                let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
                interrupt.start_statement(timeout, None);
                let running = match service.observe(clock) {
                    Ok(()) => Ok(service.call(connection, shard, request, interrupt)),
                    Err(e) => Err(e),
                };
                let replies = replies.clone();
                let in_flight = in_flight.clone();
                let service = service.clone();
                tokio::task::spawn_local(async move {
                    let outcome = match running {
                        Ok(running) => running.await,
                        Err(e) => Err(e),
                    };
                    let results: Vec<_> = match outcome {
                        Ok(bytes) if bytes.len() > SHARD_MESSAGE_MAX_BYTES => {
                            vec![Err(too_large("response", bytes.len()))]
                        }
                        Ok(bytes) => into_parts(bytes)
                            .into_iter()
                            .map(|p| Ok(Payload(p)))
                            .collect(),
                        Err(e) => vec![Err(e)],
                    };
                    // Counted until its reply is queued, so a peer that
                    // does not read its replies cannot make the server
                    // hold more than the limit of them.
                    let last = results.len() - 1;
                    for (n, result) in results.into_iter().enumerate() {
                        let reply = ShardReply {
                            id,
                            clock: service.now(),
                            result,
                            part: n < last,
                        };
                        if replies.send(reply).await.is_err() {
                            break;
                        }
                    }
                    in_flight.borrow_mut().remove(&id);
                });
            }
            ShardFrame::Cancel { id } => {
                parts.forget(id);
                if let Some(interrupt) = in_flight.borrow().get(&id) {
                    interrupt.cancel();
                }
            }
            ShardFrame::Part { id, bytes } => {
                if !parts.add(id, bytes) || parts.bytes > SHARD_MESSAGE_MAX_BYTES {
                    tracing::warn!(
                        "closed a shard channel from {from}: requests over {SHARD_MESSAGE_MAX_BYTES} bytes"
                    );
                    break;
                }
            }
        }
    }
    // The caller is gone: whatever it still waits for is not wanted.
    for interrupt in in_flight.borrow().values() {
        interrupt.cancel();
    }
    service.remote_floor(connection, None);
    service.channel_closed(connection);
    drop(replies);
    let _ = writing.await;
}

// ---------------------------------------------------------------------
// The calling side.

type Waiting = HashMap<u64, oneshot::Sender<Result<Vec<u8>>>>;

/// One open shard channel to a peer.
struct Channel {
    frames: mpsc::Sender<ShardFrame>,
    /// Calls waiting for their reply; `None` once the connection failed.
    waiting: Mutex<Option<Waiting>>,
    slots: Arc<Semaphore>,
}

impl Channel {
    fn is_open(&self) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The connection failed: every waiting call fails with `error`.
    fn fail(&self, error: Error) {
        let waiting = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        for (_, reply) in waiting.into_iter().flatten() {
            let _ = reply.send(Err(error.clone()));
        }
    }
}

/// Calls shards of one peer node over one multiplexed connection, made on
/// first use and again after a failure. Shared by every caller on the
/// node (`Arc`); calls run concurrently.
pub struct ShardPeer {
    addr: String,
    secret: ClusterSecret,
    clock: Arc<dyn HybridClock>,
    channel: tokio::sync::Mutex<Option<Arc<Channel>>>,
    next_id: AtomicU64,
}

/// Removes a call that did not get its reply, and tells the server.
struct Pending<'a> {
    channel: &'a Channel,
    id: u64,
    done: bool,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(waiting) = self
            .channel
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            waiting.remove(&self.id);
        }
        // Best effort: a full queue or a closed connection cancels the
        // request anyway (the server cancels what a lost connection had).
        let _ = self
            .channel
            .frames
            .try_send(ShardFrame::Cancel { id: self.id });
    }
}

impl ShardPeer {
    /// Calls carry `clock`'s readings, and replies' readings move it.
    pub fn new(addr: String, secret: ClusterSecret, clock: Arc<dyn HybridClock>) -> ShardPeer {
        ShardPeer {
            addr,
            secret,
            clock,
            channel: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Runs encoded request `request` on shard `shard` of this peer and
    /// returns the encoded response or the shard's error. Waits at most
    /// `timeout` (57014 after it; the server stops the request then too).
    /// Dropping the future cancels the request on the peer.
    pub async fn call(&self, shard: u16, request: Vec<u8>, timeout: Duration) -> Result<Vec<u8>> {
        let channel = self.channel().await?;
        let slot = channel
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| lost(&self.addr))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        match channel
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            Some(waiting) => waiting.insert(id, reply),
            None => return Err(lost(&self.addr)),
        };
        let mut pending = Pending {
            channel: &channel,
            id,
            done: false,
            _slot: slot,
        };
        let timeout_ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        if request.len() > SHARD_MESSAGE_MAX_BYTES {
            return Err(too_large("request", request.len()));
        }
        let mut parts = into_parts(request);
        let request = parts.pop().unwrap_or_default();
        let call = ShardFrame::Call {
            id,
            shard,
            timeout_ms,
            clock: self.clock.now(),
            floor: self.clock.floor(),
            request,
        };
        let exchange = async {
            for bytes in parts {
                channel
                    .frames
                    .send(ShardFrame::Part { id, bytes })
                    .await
                    .map_err(|_| lost(&self.addr))?;
            }
            channel
                .frames
                .send(call)
                .await
                .map_err(|_| lost(&self.addr))?;
            answer.await.map_err(|_| lost(&self.addr))?
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                sqlstate::QUERY_CANCELED,
                format!(
                    "node {} did not answer a shard request within {} ms",
                    self.addr,
                    timeout.as_millis()
                ),
            )),
        };
        // A reply, or a failed connection, took the call out of the map;
        // a timeout did not.
        pending.done = !matches!(&result, Err(e) if e.code == sqlstate::QUERY_CANCELED);
        result
    }

    /// The open channel, or a new one.
    async fn channel(&self) -> Result<Arc<Channel>> {
        let mut slot = self.channel.lock().await;
        if let Err(e) = crate::wire::check_reachable(&self.addr) {
            *slot = None;
            return Err(e.no_master_reached());
        }
        if let Some(c) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(c.clone());
        }
        let channel = open_channel(&self.addr, &self.secret, self.clock.clone())
            .await
            .map_err(|e| {
                match e.code {
                    sqlstate::CONNECTION_FAILURE => e,
                    _ => Error::new(
                        sqlstate::CONNECTION_FAILURE,
                        format!("cannot reach node {}: {}", self.addr, e.message),
                    ),
                }
                .no_master_reached()
            })?;
        *slot = Some(channel.clone());
        Ok(channel)
    }
}

async fn open_channel(
    addr: &str,
    secret: &ClusterSecret,
    clock: Arc<dyn HybridClock>,
) -> Result<Arc<Channel>> {
    let mut stream = connect(addr, secret).await?;
    let opened = async {
        write_frame(&mut stream, &Request::ShardChannel).await?;
        read_frame::<Response, _>(&mut stream).await
    };
    match tokio::time::timeout(crate::wire::CONNECT_TIMEOUT, opened).await {
        Ok(Ok(Some(Response::ShardChannel))) => {}
        Ok(Ok(Some(Response::Failed(message)))) => {
            return Err(Error::new(sqlstate::CONNECTION_FAILURE, message))
        }
        Ok(Ok(_)) => return Err(lost(addr)),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(Error::new(
                sqlstate::CONNECTION_FAILURE,
                format!("node {addr} did not open a shard channel in time"),
            ))
        }
    }
    let (mut reader, mut writer) = stream.into_split();
    let (frames, mut outgoing) = mpsc::channel::<ShardFrame>(SHARD_CALLS_IN_FLIGHT_MAX);
    let channel = Arc::new(Channel {
        frames,
        waiting: Mutex::new(Some(HashMap::new())),
        slots: Arc::new(Semaphore::new(SHARD_CALLS_IN_FLIGHT_MAX)),
    });
    let addr = addr.to_string();
    // The reader holds the channel only weakly: when every caller is gone,
    // the writer's queue closes, the writer ends, and so does the
    // connection.
    let weak = Arc::downgrade(&channel);
    let reader_addr = addr.clone();
    tokio::spawn(async move {
        let mut parts = Parts::default();
        let error = loop {
            match read_frame::<ShardReply, _>(&mut reader).await {
                Ok(Some(ShardReply {
                    id,
                    clock: reading,
                    result,
                    part,
                })) => {
                    // A partition (`tessera fault`) cuts replies on their way too.
                    if let Err(e) = crate::wire::check_reachable(&reader_addr) {
                        break e;
                    }
                    let Some(channel) = weak.upgrade() else {
                        return;
                    };
                    if part {
                        let Ok(Payload(bytes)) = result else {
                            break Error::new(
                                sqlstate::CONNECTION_FAILURE,
                                format!("node {reader_addr} sent an error as part of a reply"),
                            );
                        };
                        if !parts.add(id, bytes) {
                            break Error::new(
                                sqlstate::CONNECTION_FAILURE,
                                format!("node {reader_addr} sent a reply over {SHARD_MESSAGE_MAX_BYTES} bytes"),
                            );
                        }
                        continue;
                    }
                    let result = match result {
                        Ok(Payload(last)) => Ok(Payload(parts.finish(id, last))),
                        Err(e) => {
                            parts.forget(id);
                            Err(e)
                        }
                    };
                    // A reply from a node whose clock is too far ahead is
                    // not taken: what it returns may be timestamped there.
                    let result = match clock.observe(reading) {
                        Ok(()) => result,
                        Err(e) => Err(e),
                    };
                    let reply = channel
                        .waiting
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .as_mut()
                        .and_then(|w| w.remove(&id));
                    // None: the caller gave up; the reply is dropped.
                    if let Some(reply) = reply {
                        let _ = reply.send(result.map(|p| p.0));
                    }
                }
                Ok(None) => break lost(&reader_addr),
                Err(e) => {
                    break Error::new(
                        sqlstate::CONNECTION_FAILURE,
                        format!(
                            "the shard channel to node {reader_addr} failed: {}",
                            e.message
                        ),
                    )
                }
            }
        };
        if let Some(channel) = weak.upgrade() {
            channel.fail(error);
        }
    });
    let writer_channel = Arc::downgrade(&channel);
    tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if let Err(e) = write_frame(&mut writer, &frame).await {
                if let Some(channel) = writer_channel.upgrade() {
                    channel.fail(Error::new(
                        sqlstate::CONNECTION_FAILURE,
                        format!("the shard channel to node {addr} failed: {}", e.message),
                    ));
                }
                return;
            }
        }
    });
    Ok(channel)
}
