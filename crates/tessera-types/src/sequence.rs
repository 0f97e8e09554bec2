//! Sequences: their definitions, as the catalog keeps them, and the values
//! they hand out.
//!
//! A sequence's current value lives in memory, shared by every shard of the
//! node, and is handed out under a short lock (no I/O). What survives a
//! crash is a record of a value *ahead* of every value handed out (as
//! PostgreSQL logs 32 fetches ahead): [`SequenceState::next`] notes when
//! the values it hands out pass the last such record, and whoever uses them
//! makes the new record durable (see [`SequenceState::pending`]) before the
//! statement's result or commit is acknowledged. A crash thus skips values
//! but never repeats one. Records carry a generation so that a later one
//! written sooner is never overwritten by an earlier one.

use std::sync::{Arc, Mutex};

use crate::encoding::{Reader, Writer};
use crate::error::{Error, Result};
use crate::schema::TableId;
use crate::sqlstate::{self, SqlState};
use crate::types::DataType;

/// `nextval` past the sequence's bound without CYCLE.
pub const SEQUENCE_GENERATOR_LIMIT_EXCEEDED: SqlState = SqlState("2200H");

/// Fetches covered by the first record after a start; each record covers
/// twice as many as the one before, up to [`FETCHES_AHEAD_MAX`].
const FETCHES_AHEAD_MIN: u32 = 32;
const FETCHES_AHEAD_MAX: u32 = 1024;

#[derive(Debug, Clone)]
pub struct SequenceDef {
    /// From the tables' id space, so relation ids never collide.
    pub id: TableId,
    pub name: String,
    pub schema: crate::schema::SchemaId,
    /// `smallint`, `integer` or `bigint` (the default).
    pub data_type: DataType,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub start: i64,
    pub cache: i64,
    pub cycle: bool,
    /// The table and column whose DROP drops the sequence with it (serial
    /// and identity columns, `OWNED BY`).
    pub owned_by: Option<(TableId, u32)>,
    /// Shared by every catalog snapshot that holds the sequence.
    pub state: Arc<SequenceState>,
}

impl PartialEq for SequenceDef {
    fn eq(&self, other: &SequenceDef) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.schema == other.schema
            && self.data_type == other.data_type
            && (self.increment, self.min, self.max, self.start, self.cache)
                == (
                    other.increment,
                    other.min,
                    other.max,
                    other.start,
                    other.cache,
                )
            && self.cycle == other.cycle
            && self.owned_by == other.owned_by
    }
}

/// The bounds of a sequence's type.
pub fn type_bounds(t: DataType) -> Option<(i64, i64)> {
    match t {
        DataType::Int2 => Some((i16::MIN as i64, i16::MAX as i64)),
        DataType::Int4 => Some((i32::MIN as i64, i32::MAX as i64)),
        DataType::Int8 => Some((i64::MIN, i64::MAX)),
        _ => None,
    }
}

/// The options of CREATE SEQUENCE (and of an identity column), unset ones
/// `None`.
#[derive(Debug, Clone, Default)]
pub struct SequenceOptions {
    pub data_type: Option<DataType>,
    pub increment: Option<i64>,
    /// `Some(None)`: NO MINVALUE.
    pub min: Option<Option<i64>>,
    pub max: Option<Option<i64>>,
    pub start: Option<i64>,
    pub cache: Option<i64>,
    pub cycle: Option<bool>,
}

impl SequenceDef {
    /// A new sequence in `public` with PostgreSQL's defaults for what
    /// `options` leaves unset, and its errors for what does not fit.
    pub fn new(name: String, options: &SequenceOptions) -> Result<SequenceDef> {
        let bad = |m: String| Error::new(sqlstate::INVALID_PARAMETER_VALUE, m);
        let data_type = options.data_type.unwrap_or(DataType::Int8);
        let (lo, hi) = type_bounds(data_type)
            .ok_or_else(|| bad("sequence type must be smallint, integer, or bigint".to_string()))?;
        let increment = options.increment.unwrap_or(1);
        if increment == 0 {
            return Err(bad("INCREMENT must not be zero".into()));
        }
        let ascending = increment > 0;
        let max = options
            .max
            .flatten()
            .unwrap_or(if ascending { hi } else { -1 });
        let min = options
            .min
            .flatten()
            .unwrap_or(if ascending { 1 } else { lo });
        let tname = data_type.name();
        if max < lo || max > hi {
            return Err(bad(format!(
                "MAXVALUE ({max}) is out of range for sequence data type {tname}"
            )));
        }
        if min < lo || min > hi {
            return Err(bad(format!(
                "MINVALUE ({min}) is out of range for sequence data type {tname}"
            )));
        }
        if min >= max {
            return Err(bad(format!(
                "MINVALUE ({min}) must be less than MAXVALUE ({max})"
            )));
        }
        let start = options.start.unwrap_or(if ascending { min } else { max });
        if start < min {
            return Err(bad(format!(
                "START value ({start}) cannot be less than MINVALUE ({min})"
            )));
        }
        if start > max {
            return Err(bad(format!(
                "START value ({start}) cannot be greater than MAXVALUE ({max})"
            )));
        }
        let cache = options.cache.unwrap_or(1);
        if cache <= 0 {
            return Err(bad(format!("CACHE ({cache}) must be greater than zero")));
        }
        Ok(SequenceDef {
            id: 0,
            name,
            schema: crate::schema::PUBLIC,
            data_type,
            increment,
            min,
            max,
            start,
            cache,
            cycle: options.cycle.unwrap_or(false),
            owned_by: None,
            state: SequenceState::new(start),
        })
    }

    /// The value after `v`, or the error of running past a bound.
    fn step(&self, v: i64) -> Result<i64> {
        match v.checked_add(self.increment) {
            Some(n) if n >= self.min && n <= self.max => Ok(n),
            _ if self.cycle => Ok(if self.increment > 0 {
                self.min
            } else {
                self.max
            }),
            _ => {
                let (which, bound) = if self.increment > 0 {
                    ("maximum", self.max)
                } else {
                    ("minimum", self.min)
                };
                Err(Error::new(
                    SEQUENCE_GENERATOR_LIMIT_EXCEEDED,
                    format!(
                        "nextval: reached {which} value of sequence \"{}\" ({bound})",
                        self.name
                    ),
                ))
            }
        }
    }

    /// `nextval`: the next value (see the module's notes on durability).
    pub fn next(&self) -> Result<i64> {
        let mut s = self.state.lock();
        let v = if s.is_called {
            self.step(s.last)?
        } else {
            s.last
        };
        s.last = v;
        s.is_called = true;
        if s.left > 0 {
            s.left -= 1;
            return Ok(v);
        }
        // A new record, far enough ahead to cover the next fetches.
        let mut ahead = v;
        let mut n = 0;
        while n < s.chunk {
            match self.step(ahead) {
                Ok(x) => ahead = x,
                Err(_) => break,
            }
            n += 1;
        }
        s.left = n;
        s.chunk = (s.chunk * 2).min(FETCHES_AHEAD_MAX);
        s.generation += 1;
        s.record = (ahead, true);
        Ok(v)
    }

    /// `setval(v, is_called)`.
    pub fn set(&self, v: i64, is_called: bool) -> Result<i64> {
        if v < self.min || v > self.max {
            return Err(Error::new(
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                format!(
                    "setval: value {v} is out of bounds for sequence \"{}\" ({}..{})",
                    self.name, self.min, self.max
                ),
            ));
        }
        let mut s = self.state.lock();
        s.last = v;
        s.is_called = is_called;
        s.left = 0;
        s.generation += 1;
        s.record = (v, is_called);
        Ok(v)
    }

    /// Writes the definition in `DefLayout::WithSchemas`.
    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.id);
        w.str(&self.name);
        w.u32(self.schema);
        w.u32(self.data_type.oid());
        for v in [self.increment, self.min, self.max, self.start, self.cache] {
            w.u64(v as u64);
        }
        w.u8(self.cycle as u8);
        match self.owned_by {
            Some((table, column)) => {
                w.u8(1);
                w.u32(table);
                w.u32(column);
            }
            None => w.u8(0),
        }
    }

    pub fn decode(r: &mut Reader, layout: crate::schema::DefLayout) -> Result<SequenceDef> {
        let id = r.u32()?;
        let name = r.str()?.to_string();
        let schema = layout.schema(r)?;
        let data_type = DataType::from_oid(r.u32()?)
            .filter(|t| type_bounds(*t).is_some())
            .ok_or_else(|| r.corrupt("bad sequence type"))?;
        let mut v = [0i64; 5];
        for x in v.iter_mut() {
            *x = r.u64()? as i64;
        }
        let [increment, min, max, start, cache] = v;
        let cycle = r.u8()? != 0;
        let owned_by = match r.u8()? {
            0 => None,
            _ => Some((r.u32()?, r.u32()?)),
        };
        Ok(SequenceDef {
            id,
            name,
            schema,
            data_type,
            increment,
            min,
            max,
            start,
            cache,
            cycle,
            owned_by,
            state: SequenceState::new(start),
        })
    }
}

/// A sequence's value, and what a crash must not roll it back past.
#[derive(Debug)]
pub struct SequenceState {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    last: i64,
    is_called: bool,
    /// Values `next` may still hand out under the last record.
    left: u32,
    /// Fetches the next record covers.
    chunk: u32,
    /// The newest record, `(last, is_called)` to restart from, and its
    /// generation; `logged` is the newest generation made durable.
    record: (i64, bool),
    generation: u64,
    logged: u64,
}

/// A record to make durable: sequence, generation, value, `is_called`.
pub type SequenceRecord = (TableId, u64, i64, bool);

impl SequenceState {
    fn new(start: i64) -> Arc<SequenceState> {
        Arc::new(SequenceState {
            inner: Mutex::new(Inner {
                last: start,
                is_called: false,
                left: 0,
                chunk: FETCHES_AHEAD_MIN,
                record: (start, false),
                generation: 0,
                logged: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The record that must be made durable before values handed out so
    /// far are used, if it is not yet.
    pub fn pending(&self, id: TableId) -> Option<SequenceRecord> {
        let s = self.lock();
        (s.generation > s.logged).then_some((id, s.generation, s.record.0, s.record.1))
    }

    /// Records up to `generation` are durable.
    pub fn logged(&self, generation: u64) {
        let mut s = self.lock();
        s.logged = s.logged.max(generation);
    }

    /// The newest generation made durable.
    pub fn logged_generation(&self) -> u64 {
        self.lock().logged
    }

    /// Recovery: the sequence restarts from a durable record.
    pub fn restore(&self, generation: u64, last: i64, is_called: bool) {
        let mut s = self.lock();
        if generation >= s.generation {
            s.last = last;
            s.is_called = is_called;
            s.left = 0;
            s.generation = generation;
            s.logged = generation;
            s.record = (last, is_called);
        }
    }

    /// A record of exactly where the sequence is (a clean shutdown: it then
    /// resumes without a gap, as PostgreSQL's does); the next `nextval`
    /// writes a new record ahead.
    pub fn exact(&self, id: TableId) -> SequenceRecord {
        let mut s = self.lock();
        s.generation += 1;
        s.record = (s.last, s.is_called);
        s.left = 0;
        (id, s.generation, s.last, s.is_called)
    }

    /// The definition changed (ALTER SEQUENCE): the next `nextval` writes
    /// a new record, since how far ahead the last one is was counted in
    /// steps of the old increment.
    pub fn recount(&self) {
        self.lock().left = 0;
    }

    /// `(last_value, is_called)`.
    pub fn current(&self) -> (i64, bool) {
        let s = self.lock();
        (s.last, s.is_called)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(options: SequenceOptions) -> SequenceDef {
        SequenceDef::new("s".into(), &options).unwrap()
    }

    #[test]
    fn values_step_and_stop_or_cycle_at_the_bounds() {
        let s = seq(SequenceOptions {
            max: Some(Some(3)),
            ..Default::default()
        });
        assert_eq!((s.next().unwrap(), s.next().unwrap()), (1, 2));
        assert_eq!(s.next().unwrap(), 3);
        let e = s.next().unwrap_err();
        assert_eq!(e.code, SEQUENCE_GENERATOR_LIMIT_EXCEEDED);
        assert!(e.message.contains("maximum value of sequence \"s\" (3)"));
        let c = seq(SequenceOptions {
            increment: Some(-2),
            min: Some(Some(-5)),
            cycle: Some(true),
            ..Default::default()
        });
        let got: Vec<i64> = (0..5).map(|_| c.next().unwrap()).collect();
        assert_eq!(got, vec![-1, -3, -5, -1, -3]);
    }

    #[test]
    fn the_durable_record_is_always_ahead_of_every_value_handed_out() {
        let s = seq(SequenceOptions::default());
        let mut logged = None;
        for _ in 0..5000 {
            let v = s.next().unwrap();
            if let Some((_, generation, last, is_called)) = s.state.pending(s.id) {
                assert!(is_called);
                s.state.logged(generation);
                logged = Some(last);
            }
            // A crash now restarts after the logged value.
            assert!(logged.unwrap() >= v);
        }
        // Records grew to cover more fetches each.
        assert!(s.state.logged_generation() < 20);
    }

    #[test]
    fn a_new_increment_gets_a_new_record_before_its_first_value() {
        let s = seq(SequenceOptions::default());
        s.next().unwrap();
        let (_, generation, ahead, _) = s.state.pending(s.id).unwrap();
        s.state.logged(generation);
        // ALTER SEQUENCE … INCREMENT 1000: same value, new definition.
        let mut altered = seq(SequenceOptions {
            increment: Some(1000),
            ..Default::default()
        });
        altered.state = s.state.clone();
        altered.state.recount();
        let v = altered.next().unwrap();
        assert!(v > ahead, "the old record no longer covers {v}");
        let (_, _, new_ahead, _) = altered.state.pending(altered.id).expect("a new record");
        assert!(new_ahead >= v);
    }

    #[test]
    fn an_exact_record_resumes_without_a_gap() {
        let s = seq(SequenceOptions::default());
        for _ in 0..5 {
            s.next().unwrap();
        }
        let (_, generation, last, is_called) = s.state.exact(s.id);
        assert_eq!((last, is_called), (5, true));
        // What recovery does with it.
        let restarted = seq(SequenceOptions::default());
        restarted.state.restore(generation, last, is_called);
        assert_eq!(restarted.next().unwrap(), 6);
        // The next value after the exact record needs a new one ahead.
        assert_eq!(s.next().unwrap(), 6);
        assert!(s
            .state
            .pending(s.id)
            .is_some_and(|(_, _, ahead, _)| ahead >= 6));
    }

    #[test]
    fn bad_options_get_postgres_errors() {
        let err = |o: SequenceOptions| SequenceDef::new("s".into(), &o).unwrap_err().message;
        assert_eq!(
            err(SequenceOptions {
                increment: Some(0),
                ..Default::default()
            }),
            "INCREMENT must not be zero"
        );
        assert_eq!(
            err(SequenceOptions {
                data_type: Some(DataType::Int2),
                max: Some(Some(40000)),
                ..Default::default()
            }),
            "MAXVALUE (40000) is out of range for sequence data type smallint"
        );
        assert_eq!(
            err(SequenceOptions {
                start: Some(0),
                ..Default::default()
            }),
            "START value (0) cannot be less than MINVALUE (1)"
        );
    }

    #[test]
    fn definitions_survive_the_catalog_log() {
        let mut s = seq(SequenceOptions {
            data_type: Some(DataType::Int4),
            increment: Some(5),
            cycle: Some(true),
            ..Default::default()
        });
        s.id = 9;
        s.owned_by = Some((4, 1));
        let mut w = Writer::new();
        s.encode(&mut w);
        assert_eq!(
            SequenceDef::decode(
                &mut Reader::new(&w.buf),
                crate::schema::DefLayout::WithSchemas
            )
            .unwrap(),
            s
        );
    }
}
