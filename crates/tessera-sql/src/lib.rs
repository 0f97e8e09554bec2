//! The SQL layer: parse → bind → plan → distribute → execute.
//!
//! [`parser`] turns text into syntax trees, [`binder`] into typed plans
//! ([`plan`]), [`exec`] runs the shard part of a plan next to the data and
//! [`router`] the part that merges shard results, through the
//! [`router::Cluster`] interface the runtime implements.

pub mod activity;
pub mod advisory;
pub mod aggregate;
#[cfg(test)]
mod alloc_tests;
pub mod array;
pub mod batch;
pub mod binder;
pub mod bytea;
pub mod copy;
pub mod cursor;
pub mod engine;
pub mod explain;
pub mod expr;
pub mod format;
pub mod formatting;
pub mod join;
pub mod json;
pub mod math;
pub mod names;
pub mod parser;
pub mod password;
pub mod pattern;
pub mod plan;
pub mod query_cache;
pub mod router;
pub mod row;
pub mod rows;
pub mod sequence;
pub mod settings_fn;
pub mod shard;
pub mod srf;
pub mod stats;
pub mod subquery;
pub mod system;
pub mod text;
pub mod topology;
pub mod window;
pub mod wire;

pub use engine::{
    ColumnDesc, Deallocate, Isolation, Notice, PreparedStatement, QueryEngine, QueryResult,
    SessionState, StatementInfo, TransactionStatus, Txn, PREPARED_STATEMENTS_MAX,
};
