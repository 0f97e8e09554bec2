//! ANALYZE on a shard: every row of a table read once, at the newest
//! committed versions, into a [`TableSketch`] (distinct values, NULLs,
//! bounds per column) that replaces this shard's part of the node's
//! column statistics (see [`crate::stats`]).
//!
//! A scan yields to the event loop every `SCAN_ROWS_PER_YIELD` rows, as
//! query scans do, so requests keep being served while a large table is
//! read. Besides ANALYZE itself, the periodic statistics publication
//! analyzes a table again once its rows (over the node's shards) changed
//! by more than PostgreSQL's autoanalyze threshold since this shard last
//! did (`auto_analyze`); and not sooner than `AUTO_ANALYZE_PAUSE_FACTOR`
//! times as long as the last analysis took, so a table that keeps growing
//! during a bulk load is not read over and over. Reading everything
//! rather than a sample keeps the distinct counts exact enough to merge
//! across shards; it costs about a second per few million rows per shard.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tessera_storage::LATEST;
use tessera_types::{TableDef, TableId};

use super::{ShardContext, SCAN_ROWS_PER_YIELD};
use crate::stats::TableSketch;

/// A table is analyzed again automatically once its rows changed by more
/// than this many plus [`AUTO_ANALYZE_FRACTION`] of its rows at the last
/// analysis (PostgreSQL's `autovacuum_analyze_threshold`).
const AUTO_ANALYZE_ROWS: u64 = 50;

/// See [`AUTO_ANALYZE_ROWS`] (PostgreSQL's
/// `autovacuum_analyze_scale_factor`).
const AUTO_ANALYZE_FRACTION: f64 = 0.1;

/// An automatic analysis of a table waits at least this many times as long
/// as its last analysis on the shard took, so analyses take at most about
/// a tenth of the shard's time however fast the table changes.
const AUTO_ANALYZE_PAUSE_FACTOR: u32 = 10;

/// A table's last analysis on this shard.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LastAnalysis {
    /// The table's rows over the node's shards then.
    rows: u64,
    ended: Instant,
    took: Duration,
}

/// Per table, its last analysis on this shard.
pub(crate) type Analyses = HashMap<TableId, LastAnalysis>;

impl ShardContext {
    /// ANALYZE: every table's columns, then the row counts.
    pub(super) async fn analyze(&self) {
        // Counts first: the node keeps column statistics of tables with
        // counted rows only, and an analysis notes the rows it saw.
        self.publish_stats();
        let catalog = self.catalog();
        for table in catalog.tables() {
            self.analyze_table(table).await;
        }
        self.publish_stats();
    }

    /// Analyzes the tables whose rows changed enough since their last
    /// analysis here (see the module comment). Called after the row
    /// counts are published.
    pub async fn auto_analyze(&self) {
        let Some(stats) = &self.stats else {
            return;
        };
        let catalog = self.catalog();
        let now = Instant::now();
        let due: Vec<_> = {
            let mut analyses = self.analyses.borrow_mut();
            analyses.retain(|id, _| catalog.table_by_id(*id).is_some());
            catalog
                .tables()
                .filter(|t| {
                    let rows = stats.rows(t.id).unwrap_or(0);
                    let (last_rows, waited) = match analyses.get(&t.id) {
                        Some(last) => (
                            last.rows,
                            now >= last.ended + last.took * AUTO_ANALYZE_PAUSE_FACTOR,
                        ),
                        None => (0, true),
                    };
                    let threshold =
                        AUTO_ANALYZE_ROWS as f64 + AUTO_ANALYZE_FRACTION * last_rows as f64;
                    waited && rows.abs_diff(last_rows) as f64 > threshold
                })
                .cloned()
                .collect()
        };
        for table in due {
            self.analyze_table(&table).await;
        }
    }

    /// Reads this shard's rows of `table` and publishes what it found.
    async fn analyze_table(&self, table: &TableDef) {
        let Some(stats) = self.stats.clone() else {
            return;
        };
        let started = Instant::now();
        let rows = stats.rows(table.id).unwrap_or(0);
        let mut sketch = TableSketch::new(table.columns.len());
        let mut after: Option<Vec<u8>> = None;
        loop {
            {
                let store = self.store.borrow();
                // Dropped meanwhile: nothing to publish.
                let Some(t) = store.table(table.id) else {
                    return;
                };
                let mut n = 0;
                let mut last = None;
                for (key, row) in t.iter_at(after.as_deref(), LATEST) {
                    sketch.add_row(row);
                    n += 1;
                    if n == SCAN_ROWS_PER_YIELD {
                        last = Some(key.to_vec());
                        break;
                    }
                }
                after = last;
            }
            if after.is_none() {
                break;
            }
            tokio::task::yield_now().await;
        }
        stats.publish_columns(self.shard, table.id, sketch);
        let ended = Instant::now();
        self.analyses.borrow_mut().insert(
            table.id,
            LastAnalysis {
                rows,
                ended,
                took: ended - started,
            },
        );
    }
}
