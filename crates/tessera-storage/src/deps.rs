//! What each shard's published state depends on in the node's logs.
//!
//! With early lock release a shard applies a commit and releases its locks
//! once the record is appended to its log (and certain to reach the disk
//! unless the log fails for good, see `WalWriter::is_certain`), before the
//! fsync. Others may then read or overwrite that state. Nothing is lost on
//! the shard's own log, whose order already puts a dependent record after
//! the one it depends on; across logs the node keeps score here:
//!
//! - Row `x` of the board holds, for every log `y` of the node, the
//!   position up to which shard `x`'s state depends on log `y` (its own
//!   entry: the end of its last record published early). Rows only grow.
//! - A router joins the row of every shard it hears from into its
//!   statement's dependencies, raises a shard's row by them before asking
//!   that shard to write, and before it hands rows to the client or
//!   acknowledges a commit waits until they are durable.
//! - Before a shard appends a record while its row names positions of
//!   other logs that are not yet durable, it logs them in a `Depends`
//!   record; recovery cuts a log where what it depends on was lost.
//!
//! So an acknowledged commit or a row shown to a client never depends on a
//! record a crash can take back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use tessera_types::Result;

use crate::wal::LogView;

/// Log positions, one per shard of the node (0: nothing).
pub type Positions = Vec<u64>;

/// The node's board of dependencies and a view of every shard's log.
pub struct LogDeps {
    shards: usize,
    board: Vec<AtomicU64>,
    views: Vec<OnceLock<LogView>>,
}

impl LogDeps {
    pub fn new(shards: usize) -> LogDeps {
        LogDeps {
            shards,
            board: (0..shards * shards).map(|_| AtomicU64::new(0)).collect(),
            views: (0..shards).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Makes shard `shard`'s log known to the node (once, at its start).
    pub fn register(&self, shard: usize, view: LogView) {
        if let Some(slot) = self.views.get(shard) {
            let _ = slot.set(view);
        }
    }

    /// The cells of shard `shard`'s row (none for a shard not in the node).
    fn cells(&self, shard: usize) -> &[AtomicU64] {
        self.board
            .get(shard * self.shards..(shard + 1) * self.shards)
            .unwrap_or(&[])
    }

    /// Joins the entries of shard `shard`'s row that are not yet durable
    /// into `into` (durable ones need waiting for and naming nowhere, so
    /// while nothing is in flight `into` stays as it is, unallocated).
    pub fn join_row(&self, shard: usize, into: &mut Positions) {
        for (log, cell) in self.cells(shard).iter().enumerate() {
            let p = cell.load(Ordering::Acquire);
            if p > into.get(log).copied().unwrap_or(0) && !self.is_durable(log, p) {
                if into.len() <= log {
                    into.resize(self.shards, 0);
                }
                into[log] = p;
            }
        }
    }

    /// Raises one entry of shard `shard`'s row.
    pub fn raise_entry(&self, shard: usize, log: usize, position: u64) {
        if let Some(cell) = self.cells(shard).get(log) {
            // Read first: most raises change nothing, and a read does not
            // take the cache line from the other cores.
            if position > cell.load(Ordering::Acquire) {
                cell.fetch_max(position, Ordering::AcqRel);
            }
        }
    }

    /// Raises shard `shard`'s row by the entries of `positions` that are
    /// not yet durable (durable ones need naming nowhere).
    pub fn raise_pending(&self, shard: usize, positions: &[u64]) {
        for (log, p) in positions.iter().enumerate() {
            if !self.is_durable(log, *p) {
                self.raise_entry(shard, log, *p);
            }
        }
    }

    /// Whether log `log` is durable up to `position`.
    pub fn is_durable(&self, log: usize, position: u64) -> bool {
        position == 0
            || self
                .views
                .get(log)
                .and_then(OnceLock::get)
                .is_none_or(|v| v.is_durable(position))
    }

    /// Waits until every log is durable up to its entry of `positions`
    /// (at once, without suspending, when all are); fails if one of them
    /// failed for good.
    pub async fn wait(&self, positions: &[u64]) -> Result<()> {
        for (log, p) in positions.iter().enumerate() {
            if *p == 0 {
                continue;
            }
            if let Some(view) = self.views.get(log).and_then(OnceLock::get) {
                view.wait(*p).await?;
            }
        }
        Ok(())
    }
}

/// `into[i] = max(into[i], from[i])`, growing `into` as needed.
pub fn join(into: &mut Positions, from: &[u64]) {
    for (i, p) in from.iter().enumerate() {
        if *p > into.get(i).copied().unwrap_or(0) {
            if into.len() <= i {
                into.resize(from.len(), 0);
            }
            into[i] = *p;
        }
    }
}
