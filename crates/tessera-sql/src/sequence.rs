//! The sequence functions, `nextval`, `currval`, `setval` and `lastval`,
//! and what a session remembers of them.
//!
//! Values come from the node-wide state of each sequence
//! (`tessera_types::sequence`), so any shard may evaluate the functions.
//! A statement that called them makes the sequences' records durable
//! before it is acknowledged or commits (see [`pending`]), so a crash
//! never hands out a value twice. In a cluster a record is a claim on the
//! cluster's position of the sequence, which another node may have moved
//! first: the statement then fails before any row holds its values
//! ([`SessionSequences::check_drawn`], a retryable error).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tessera_types::sequence::SequenceClaim;
use tessera_types::{sqlstate, Catalog, Error, Result, SequenceDef, TableId, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SequenceOp {
    Next,
    Current,
    /// `setval(seq, value [, is_called])`.
    Set,
    /// `lastval()`: no sequence named.
    Last,
    /// `SELECT last_value FROM seq`: the value the sequence gave last
    /// (its start before the first), whichever session drew it.
    ReadLastValue,
    /// `SELECT is_called FROM seq`: whether `last_value` was given out.
    ReadIsCalled,
}

/// The values a session's `nextval` calls returned last, per sequence
/// (`currval`) and overall (`lastval`). Shared with the shards evaluating
/// its statements.
#[derive(Debug, Default)]
pub struct SessionSequences {
    inner: Mutex<Seen>,
    /// The running statement is in a read-only transaction: `nextval`
    /// and `setval` fail (25006), as in PostgreSQL.
    read_only: AtomicBool,
}

#[derive(Debug, Default)]
struct Seen {
    current: HashMap<TableId, i64>,
    last: Option<Arc<SequenceDef>>,
    /// The running statement's draws: per sequence, the generations of
    /// the records that cover them (the first and the last).
    drawn: HashMap<TableId, (Arc<SequenceDef>, u64, u64)>,
}

/// The message of the error a statement gets whose values another node
/// claimed first (see [`is_lost_values`]).
const LOST_VALUES: &str = "values of sequence";

impl PartialEq for SessionSequences {
    fn eq(&self, other: &SessionSequences) -> bool {
        std::ptr::eq(self, other)
    }
}

impl SessionSequences {
    /// Set by the router before each statement.
    pub fn set_read_only(&self, read_only: bool) {
        self.read_only.store(read_only, Ordering::Relaxed);
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A statement that may draw values starts.
    pub fn begin_statement(&self) {
        self.seen().drawn.clear();
    }

    /// Once the records are settled: fails (40001) if a claim covering a
    /// value the statement drew was lost to another node, so that no row
    /// holds the value.
    pub fn check_drawn(&self) -> Result<()> {
        let seen = self.seen();
        for (seq, from, to) in seen.drawn.values() {
            if seq.state.is_lost(*from, *to) {
                return Err(Error::new(
                    sqlstate::SERIALIZATION_FAILURE,
                    format!(
                        "{LOST_VALUES} \"{}\" that this statement drew were claimed by another node first",
                        seq.name
                    ),
                )
                .with_hint("Run the statement again: it draws new values."));
            }
        }
        Ok(())
    }

    /// Evaluates `op` on `seq` with `args` (the value, and `is_called`, of
    /// setval).
    pub fn call(
        &self,
        op: SequenceOp,
        seq: Option<&Arc<SequenceDef>>,
        args: &[Value],
    ) -> Result<Value> {
        let seq = match (op, seq) {
            (SequenceOp::Last, _) => {
                let seen = self.seen();
                let Some(seq) = seen.last.as_ref() else {
                    return Err(not_defined("lastval is not yet defined in this session"));
                };
                let v = seen.current.get(&seq.id).copied().unwrap_or(seq.start);
                return Ok(Value::Int8(v));
            }
            (SequenceOp::ReadLastValue, Some(seq)) => {
                return Ok(Value::Int8(seq.state.current().0))
            }
            (SequenceOp::ReadIsCalled, Some(seq)) => return Ok(Value::Bool(seq.state.current().1)),
            (_, Some(seq)) => seq,
            (_, None) => return Err(Error::internal("a sequence function without a sequence")),
        };
        if matches!(op, SequenceOp::Next | SequenceOp::Set)
            && self.read_only.load(Ordering::Relaxed)
        {
            let name = if op == SequenceOp::Next {
                "nextval"
            } else {
                "setval"
            };
            return Err(Error::new(
                sqlstate::READ_ONLY_SQL_TRANSACTION,
                format!("cannot execute {name}() in a read-only transaction"),
            ));
        }
        match op {
            SequenceOp::Next => {
                let (v, generation) = seq.draw()?;
                let mut seen = self.seen();
                seen.drawn
                    .entry(seq.id)
                    .and_modify(|(_, from, to)| {
                        *from = (*from).min(generation);
                        *to = (*to).max(generation);
                    })
                    .or_insert_with(|| (seq.clone(), generation, generation));
                seen.current.insert(seq.id, v);
                seen.last = Some(seq.clone());
                Ok(Value::Int8(v))
            }
            SequenceOp::Current => match self.seen().current.get(&seq.id) {
                Some(v) => Ok(Value::Int8(*v)),
                None => Err(not_defined(&format!(
                    "currval of sequence \"{}\" is not yet defined in this session",
                    seq.name
                ))),
            },
            SequenceOp::Set => {
                let (v, is_called) = match args {
                    [Value::Null, ..] | [_, Value::Null] => return Ok(Value::Null),
                    [v] => (int8(v)?, true),
                    [v, Value::Bool(b)] => (int8(v)?, *b),
                    _ => return Err(Error::internal("setval's arguments")),
                };
                seq.set(v, is_called)?;
                if is_called {
                    self.seen().current.insert(seq.id, v);
                }
                Ok(Value::Int8(v))
            }
            SequenceOp::Last | SequenceOp::ReadLastValue | SequenceOp::ReadIsCalled => {
                unreachable!("handled above")
            }
        }
    }
}

fn int8(v: &Value) -> Result<i64> {
    v.as_i64()
        .ok_or_else(|| Error::internal("setval's value is not an integer"))
}

fn not_defined(message: &str) -> Error {
    Error::new(sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE, message)
}

/// Whether `e` is the error of a statement whose sequence values another
/// node claimed first: outside a block it runs again at once.
pub fn is_lost_values(e: &Error) -> bool {
    e.code == sqlstate::SERIALIZATION_FAILURE && e.message.starts_with(LOST_VALUES)
}

/// The records that must be made durable before what the node's
/// sequences handed out so far may be acknowledged, and those made ahead
/// of need (not `needed`).
pub fn pending(catalog: &Catalog) -> Vec<SequenceClaim> {
    catalog
        .sequences()
        .filter_map(|s| s.state.pending(s.id))
        .collect()
}
