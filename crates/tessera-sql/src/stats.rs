//! Table statistics for the planner: how many rows each table holds, as
//! the node's shards last counted them. The planner orders the items of an
//! inner join by them (the smallest, after its filters, first) instead of
//! by the order they were written in.
//!
//! Counts are keys in each shard's store (a key deleted and not yet
//! collected still counts), published by every shard from its garbage
//! collection loop: approximate and a little late, which is all join
//! order needs.

use std::collections::HashMap;
use std::sync::RwLock;

use tessera_types::schema::ShardId;
use tessera_types::TableId;

use crate::expr::{BinaryOp, Expr};

/// Rows per table and shard of one node.
#[derive(Debug, Default)]
pub struct TableStats {
    counts: RwLock<HashMap<TableId, Vec<u64>>>,
}

impl TableStats {
    /// Replaces `shard`'s counts with `counts` (tables it no longer holds
    /// rows of count 0 there).
    pub fn publish(&self, shard: ShardId, counts: impl IntoIterator<Item = (TableId, usize)>) {
        let Ok(mut all) = self.counts.write() else {
            return;
        };
        let shard = shard as usize;
        for per_shard in all.values_mut() {
            if let Some(c) = per_shard.get_mut(shard) {
                *c = 0;
            }
        }
        for (table, n) in counts {
            let per_shard = all.entry(table).or_default();
            if per_shard.len() <= shard {
                per_shard.resize(shard + 1, 0);
            }
            per_shard[shard] = n as u64;
        }
        all.retain(|_, per_shard| per_shard.iter().any(|n| *n > 0));
    }

    /// The table's rows over all shards; `None` when no shard has counted any.
    pub fn rows(&self, table: TableId) -> Option<u64> {
        let all = self.counts.read().ok()?;
        all.get(&table).map(|per_shard| per_shard.iter().sum())
    }
}

/// The fraction of rows a condition is guessed to keep, with PostgreSQL's
/// defaults for a column it has no statistics of: equality and pattern
/// matches 0.5%, a one-sided range a third, an IN list 0.5% per value.
pub fn selectivity(condition: &Expr) -> f64 {
    const EQ: f64 = 0.005;
    const INEQ: f64 = 1.0 / 3.0;
    match condition {
        Expr::Binary { op, left, right } => match op {
            BinaryOp::Eq => EQ,
            BinaryOp::NotEq => 1.0 - EQ,
            BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => INEQ,
            BinaryOp::And => selectivity(left) * selectivity(right),
            BinaryOp::Or => {
                let (a, b) = (selectivity(left), selectivity(right));
                a + b - a * b
            }
            _ => 0.5,
        },
        Expr::InList { list, negated, .. } => {
            let any = (EQ * list.len() as f64).min(0.5);
            if *negated {
                1.0 - any
            } else {
                any
            }
        }
        Expr::Like { .. } => EQ,
        Expr::Not(inner) => 1.0 - selectivity(inner),
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_replaces_its_own_counts_only() {
        let stats = TableStats::default();
        stats.publish(0, [(7, 10), (8, 5)]);
        stats.publish(1, [(7, 32)]);
        assert_eq!(stats.rows(7), Some(42));
        assert_eq!(stats.rows(8), Some(5));
        // Shard 0 no longer holds rows of table 8.
        stats.publish(0, [(7, 11)]);
        assert_eq!(stats.rows(7), Some(43));
        assert_eq!(stats.rows(8), None);
        assert_eq!(stats.rows(9), None);
    }

    #[test]
    fn conditions_keep_fractions_as_postgresql_guesses() {
        let eq = Expr::Binary {
            op: BinaryOp::Eq,
            left: Box::new(Expr::Column(0)),
            right: Box::new(Expr::Column(1)),
        };
        let lt = Expr::Binary {
            op: BinaryOp::Lt,
            left: Box::new(Expr::Column(0)),
            right: Box::new(Expr::Column(1)),
        };
        assert_eq!(selectivity(&eq), 0.005);
        let both = Expr::Binary {
            op: BinaryOp::And,
            left: Box::new(eq.clone()),
            right: Box::new(lt.clone()),
        };
        assert!((selectivity(&both) - 0.005 / 3.0).abs() < 1e-12);
        assert!(selectivity(&Expr::Not(Box::new(eq))) > 0.99);
    }
}
