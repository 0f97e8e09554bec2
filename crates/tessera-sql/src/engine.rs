//! The seam between a wire-protocol session and the SQL engine.
//!
//! A session (PostgreSQL today) parses its protocol and calls [`QueryEngine`]:
//! `prepare` turns SQL text into statements whose parameter and result types
//! are known, `execute` runs one with bound parameter values. The engine
//! knows nothing of the wire; the session knows nothing of plans or shards.

use std::collections::BTreeMap;
use std::future::Future;

use tessera_types::{DataType, Result, Value};

/// One column of a statement's result, as RowDescription reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDesc {
    pub name: String,
    pub data_type: DataType,
    /// OID of the table the column comes from, 0 if it is computed.
    pub table_oid: u32,
    /// 1-based attribute number in that table, 0 if computed.
    pub column_id: i16,
}

/// What a session can ask of a prepared statement.
pub trait StatementInfo {
    /// The type of each `$n` parameter (inferred where the client left it open).
    fn param_types(&self) -> &[DataType];
    /// The result columns; empty for statements that return no rows.
    fn columns(&self) -> &[ColumnDesc];
    /// Whether the statement returns rows (SELECT, SHOW), even zero of them.
    fn returns_rows(&self) -> bool;
    /// Whether it may run inside the implicit transaction of a
    /// multi-statement simple Query (not transaction control, not DDL).
    fn joins_implicit_transaction(&self) -> bool {
        true
    }
}

/// A message for the client that is not an error (PostgreSQL NoticeResponse).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// SQLSTATE, e.g. 42P07 for "relation already exists, skipping".
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
}

/// The result of executing one statement.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// The rows, for statements that return rows.
    pub rows: Vec<Vec<Value>>,
    /// The command tag without a row count for SELECT (the session appends
    /// the count of rows it sent: "SELECT 3"); complete for others ("INSERT 0 3").
    pub tag: String,
    pub notices: Vec<Notice>,
    /// Set when the statement was bound only now (a later statement of a
    /// multi-statement Query, after DDL before it ran): the columns to
    /// describe its rows with, in place of the prepared ones.
    pub columns: Option<Vec<ColumnDesc>>,
}

/// Per-connection state the engine reads and changes: settings (SET/SHOW)
/// and the open transaction block, if any.
#[derive(Debug, Default, Clone)]
pub struct SessionState {
    pub settings: BTreeMap<String, String>,
    /// Settings changed by the last statement that the client should be told
    /// about with ParameterStatus (PostgreSQL's GUC_REPORT settings).
    pub reported_changes: Vec<(String, String)>,
    pub txn: Option<Txn>,
}

/// What ReadyForQuery reports: idle, in a transaction block, or in a failed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    Idle,
    InTransaction,
    Failed,
}

impl SessionState {
    pub fn transaction_status(&self) -> TransactionStatus {
        match &self.txn {
            None => TransactionStatus::Idle,
            Some(t) if t.failed => TransactionStatus::Failed,
            Some(_) => TransactionStatus::InTransaction,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Each statement reads a fresh snapshot (PostgreSQL's default).
    ReadCommitted,
    /// Snapshot isolation: one snapshot for the whole transaction; a write
    /// to a row changed since it fails with 40001.
    RepeatableRead,
    /// REPEATABLE READ whose reads must also still hold when it commits:
    /// shards validate them at COMMIT and keep them locked until the
    /// commit is applied, so serializable transactions take effect
    /// atomically at their commit timestamps (40001 otherwise).
    Serializable,
}

impl Isolation {
    /// The name PostgreSQL shows for it (`SHOW transaction_isolation`).
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }

    /// Whether the transaction reads one snapshot throughout.
    pub fn has_snapshot(self) -> bool {
        self != Isolation::ReadCommitted
    }
}

/// An open transaction block (BEGIN … COMMIT/ROLLBACK).
#[derive(Debug, Clone)]
pub struct Txn {
    pub id: u64,
    pub isolation: Isolation,
    pub read_only: bool,
    /// REPEATABLE READ and SERIALIZABLE: `(floor, snapshot)`, taken at the
    /// first statement.
    pub snapshot: Option<(u64, u64)>,
    /// Shards holding this transaction's writes.
    pub participants: std::collections::BTreeSet<u16>,
    /// SERIALIZABLE: shards that remember what this transaction read.
    pub reads: std::collections::BTreeSet<u16>,
    /// A statement failed: only ROLLBACK (or COMMIT, which rolls back) is accepted.
    pub failed: bool,
    /// Active savepoints, oldest first: name and number. Writes carry the
    /// number of the newest one, so ROLLBACK TO can undo them.
    pub savepoints: Vec<(String, u32)>,
    /// The last savepoint number handed out.
    pub savepoint_seq: u32,
}

impl Txn {
    /// Whether shards must remember what this transaction reads, to
    /// validate it at COMMIT. A read-only one needs nothing: its snapshot
    /// holds exactly the serializable transactions committed before it.
    pub fn tracks_reads(&self) -> bool {
        self.isolation == Isolation::Serializable && !self.read_only
    }

    /// Every shard that holds something of this transaction.
    pub fn shards(&self) -> std::collections::BTreeSet<u16> {
        self.participants.union(&self.reads).copied().collect()
    }

    /// The savepoint number the next write belongs to (0: none).
    pub fn current_savepoint(&self) -> u32 {
        self.savepoints.last().map_or(0, |(_, n)| *n)
    }
}

/// Settings PostgreSQL reports to the client with ParameterStatus, and their
/// values at connection start.
pub const REPORTED_SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("default_transaction_read_only", "off"),
    ("in_hot_standby", "off"),
    ("integer_datetimes", "on"),
    ("IntervalStyle", "postgres"),
    ("is_superuser", "on"),
    ("server_encoding", "UTF8"),
    ("server_version", "15.8 (Tessera 0.1.0)"),
    ("session_authorization", "tessera"),
    ("standard_conforming_strings", "on"),
    ("TimeZone", "UTC"),
];

/// The SQL engine as a session sees it. Futures are not `Send`: a session
/// and its engine live on one shard's thread.
pub trait QueryEngine {
    type Statement: StatementInfo + Clone;

    /// Parses and plans `sql`, one statement per SQL statement in it (an
    /// empty string gives none). `param_types[i]` fixes the type of `$i+1`
    /// where the client named one; the rest are inferred.
    fn prepare(&self, sql: &str, param_types: &[Option<DataType>]) -> Result<Vec<Self::Statement>>;

    /// Runs a statement with its parameter values, already converted to
    /// `param_types()`.
    fn execute(
        &self,
        statement: &Self::Statement,
        params: Vec<Value>,
        session: &mut SessionState,
    ) -> impl Future<Output = Result<QueryResult>>;

    /// Opens the implicit transaction PostgreSQL runs a multi-statement
    /// simple Query in.
    fn begin_implicit(&self, session: &mut SessionState) -> Result<()> {
        let _ = session;
        Ok(())
    }

    /// Ends it: commit if every statement succeeded, else roll back.
    fn end_implicit(
        &self,
        session: &mut SessionState,
        commit: bool,
    ) -> impl Future<Output = Result<()>> {
        let _ = (session, commit);
        async { Ok(()) }
    }

    /// The connection ended: release what the session holds (an open
    /// transaction is rolled back).
    fn end_session(&self, session: &mut SessionState) -> impl Future<Output = ()> {
        let _ = session;
        async {}
    }
}
