//! The sequence functions, `nextval`, `currval`, `setval` and `lastval`,
//! and what a session remembers of them.
//!
//! Values come from the node-wide state of each sequence
//! (`tessera_types::sequence`), so any shard may evaluate the functions.
//! A statement that called them makes the sequences' records durable
//! before it is acknowledged or commits (see [`pending`]), so a crash
//! never hands out a value twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tessera_types::sequence::SequenceRecord;
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
}

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
                let v = seq.next()?;
                let mut seen = self.seen();
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

/// The records that must be made durable before what the node's
/// sequences handed out so far may be acknowledged.
pub fn pending(catalog: &Catalog) -> Vec<SequenceRecord> {
    catalog
        .sequences()
        .filter_map(|s| s.state.pending(s.id))
        .collect()
}
