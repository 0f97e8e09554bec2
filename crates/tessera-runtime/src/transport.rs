//! The transport between shards: a request goes to a shard's mailbox and the
//! reply comes back on a one-shot channel. A request for the router's own
//! shard is handled in place, with no message and no thread hop.
//!
//! Messages are plain data (no `Rc`, no closures) so that a later TCP
//! transport between nodes can encode them; callers only see
//! [`tessera_sql::router::Cluster`].

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use tessera_sql::router::Cluster;
use tessera_sql::shard::{ShardContext, ShardRequest, ShardResponse};
use tessera_storage::{Timestamp, TxId};
use tessera_types::schema::ShardId;
use tessera_types::{sqlstate, Catalog, Error, Result};
use tokio::sync::{mpsc, oneshot};

/// Requests a shard's mailbox holds before senders wait: back-pressure
/// instead of unbounded queues when one shard falls behind.
pub const MAILBOX_CAPACITY: usize = 4096;

/// Row and transaction ids are `sequence * ID_STRIDE + shard`, unique per node.
pub const ID_STRIDE: u64 = 1024;

pub struct Envelope {
    pub request: ShardRequest,
    pub reply: oneshot::Sender<Result<ShardResponse>>,
}

pub type Mailboxes = Arc<[mpsc::Sender<Envelope>]>;

/// The [`Cluster`] a router on one shard sees.
pub struct ShardCluster {
    ctx: Rc<ShardContext>,
    mailboxes: Mailboxes,
    row_seq: Cell<u64>,
    tx_seq: Cell<u64>,
}

impl ShardCluster {
    pub fn new(
        ctx: Rc<ShardContext>,
        mailboxes: Mailboxes,
        first_row_seq: u64,
        first_tx_seq: u64,
    ) -> ShardCluster {
        ShardCluster {
            ctx,
            mailboxes,
            row_seq: Cell::new(first_row_seq),
            tx_seq: Cell::new(first_tx_seq),
        }
    }

    pub fn context(&self) -> &Rc<ShardContext> {
        &self.ctx
    }
}

fn shard_gone(shard: ShardId) -> Error {
    Error::new(
        sqlstate::ADMIN_SHUTDOWN,
        format!("shard {shard} is shutting down"),
    )
}

impl Cluster for ShardCluster {
    fn local_shard(&self) -> ShardId {
        self.ctx.shard
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.ctx.catalog()
    }

    async fn call(&self, shard: ShardId, request: ShardRequest) -> Result<ShardResponse> {
        if shard == self.ctx.shard {
            return self.ctx.handle(request).await;
        }
        let mailbox = self
            .mailboxes
            .get(shard as usize)
            .ok_or_else(|| Error::internal(format!("no shard {shard}")))?;
        let (reply, response) = oneshot::channel();
        mailbox
            .send(Envelope { request, reply })
            .await
            .map_err(|_| shard_gone(shard))?;
        response.await.map_err(|_| shard_gone(shard))?
    }

    fn next_row_id(&self) -> u64 {
        let seq = self.row_seq.get();
        self.row_seq.set(seq + 1);
        seq * ID_STRIDE + self.ctx.shard as u64
    }

    fn begin_read(&self) -> (Timestamp, Timestamp) {
        self.ctx.begin_read()
    }

    fn end_read(&self, floor: Timestamp) {
        self.ctx.end_read(floor)
    }

    fn tick(&self) -> Timestamp {
        self.ctx.tick()
    }

    fn next_tx(&self) -> TxId {
        let seq = self.tx_seq.get();
        self.tx_seq.set(seq + 1);
        seq * ID_STRIDE + self.ctx.shard as u64
    }
}
