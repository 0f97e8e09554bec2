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
        self.draw().map(|(v, _)| v)
    }

    /// `nextval`, and the generation of the record that covers the value:
    /// in a cluster the value may be used only once that record's claim
    /// was granted ([`SequenceState::is_lost`] says whether it was not).
    pub fn draw(&self) -> Result<(i64, u64)> {
        let mut s = self.state.lock();
        if s.left == 0 && s.forced.is_none() {
            // Another node moved the cluster's position: the next range
            // starts there.
            if let Some(tip) = s.tip.take() {
                s.jump(tip);
            }
        }
        let v = if s.is_called {
            self.step(s.last)?
        } else {
            s.last
        };
        s.last = v;
        s.is_called = true;
        if s.left > 0 {
            s.left -= 1;
            let generation = match &mut s.older {
                Some((g, k)) if *k > 0 => {
                    *k -= 1;
                    *g
                }
                _ => {
                    s.older = None;
                    s.generation
                }
            };
            // Half the newest record's values are gone and nothing is
            // pending: the next record now, so that it is durable (in a
            // cluster, granted) before the values run out.
            if s.older.is_none()
                && s.forced.is_none()
                && s.generation == s.logged
                && s.left <= s.span / 2
            {
                let (ahead, n) = self.ahead(s.record.0, s.chunk);
                if n > 0 {
                    s.older = Some((s.generation, s.left));
                    s.left += n;
                    s.push_record(ahead, n);
                }
            }
            return Ok((v, generation));
        }
        // A new record, far enough ahead to cover the next fetches.
        let (ahead, n) = self.ahead(v, s.chunk);
        s.left = n;
        s.older = None;
        s.push_record(ahead, n);
        Ok((v, s.generation))
    }

    /// The value `steps` steps after `from` (fewer at a bound without
    /// CYCLE), and how many steps that is.
    fn ahead(&self, from: i64, steps: u32) -> (i64, u32) {
        let mut ahead = from;
        let mut n = 0;
        while n < steps {
            match self.step(ahead) {
                Ok(x) => ahead = x,
                Err(_) => break,
            }
            n += 1;
        }
        (ahead, n)
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
        s.older = None;
        s.generation += 1;
        s.forced = Some(s.generation);
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

/// Where a sequence is in a cluster (`Metadata::sequences`): the value
/// the next range starts after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SequencePosition {
    pub value: i64,
    pub is_called: bool,
    /// How many times it moved: a claim names the version it extends.
    pub version: u64,
    /// The node that moved it last.
    pub node: u64,
    /// The last move set it (`setval`, `RESTART`) rather than claimed
    /// values: every node goes on from it at once.
    pub reset: bool,
}

/// A record the node's values need durable: in a cluster, a claim on the
/// cluster's position of the sequence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SequenceClaim {
    pub id: TableId,
    pub generation: u64,
    pub value: i64,
    pub is_called: bool,
    /// In a cluster, the position's version the record extends (the node
    /// holds the values up to it); `None`: it sets the position whatever
    /// it is (`setval`, `RESTART`).
    pub after: Option<u64>,
    /// Values were handed out under it; else it was made ahead of need,
    /// and no statement waits for it.
    pub needed: bool,
}

impl SequenceClaim {
    /// The record `catalog.wal` keeps.
    pub fn record(&self) -> SequenceRecord {
        (self.id, self.generation, self.value, self.is_called)
    }
}

/// What became of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Claimed {
    /// The position is the claim's, at this version.
    Granted(u64),
    /// Another node moved the position first: it is here now.
    Lost(SequencePosition),
}

/// Lost claims remembered per sequence; a statement holding values of an
/// older one fails as if it were lost.
const LOST_KEPT: usize = 64;

/// A sequence's value, and what a crash must not roll it back past.
///
/// In a cluster a record is a claim on the cluster's position (see
/// docs/CLUSTER.md §4): values are still handed out at once, ahead of
/// their record, and a statement that used them checks, once the record
/// was settled, that the claim was not lost to another node.
#[derive(Debug)]
pub struct SequenceState {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    last: i64,
    is_called: bool,
    /// Values `next` may still hand out under the newest record.
    left: u32,
    /// How many values the newest record covers.
    span: u32,
    /// Values of `left` still under an older record when the newest was
    /// made ahead of need: they go first, under that record's generation.
    older: Option<(u64, u32)>,
    /// Fetches the next record covers.
    chunk: u32,
    /// The newest record, `(last, is_called)` to restart from, and its
    /// generation; `logged` is the newest generation made durable.
    record: (i64, bool),
    generation: u64,
    logged: u64,
    /// The generation of a pending record that sets the value (`setval`).
    forced: Option<u64>,
    /// Cluster: the version of the position the node's records extend.
    base: u64,
    /// Cluster: a newer position another node made.
    tip: Option<SequencePosition>,
    /// Cluster: generations `(from, to]` whose claims were lost, and the
    /// newest generation of those forgotten.
    lost: std::collections::VecDeque<(u64, u64)>,
    lost_floor: u64,
}

/// A record to make durable: sequence, generation, value, `is_called`.
pub type SequenceRecord = (TableId, u64, i64, bool);

impl Inner {
    /// A new newest record at `ahead`, `n` values past the one before.
    fn push_record(&mut self, ahead: i64, n: u32) {
        self.span = n;
        self.chunk = (self.chunk * 2).min(FETCHES_AHEAD_MAX);
        self.generation += 1;
        self.record = (ahead, true);
    }

    /// Records up to `generation` are durable (or granted).
    fn mark_logged(&mut self, generation: u64) {
        self.logged = self.logged.max(generation);
        if self.forced.is_some_and(|g| g <= self.logged) {
            self.forced = None;
        }
    }

    /// The newest record as a claim: extending the position the node's
    /// records extend, unless a `setval` in it sets the position.
    fn claim(&self, id: TableId, needed: bool) -> SequenceClaim {
        SequenceClaim {
            id,
            generation: self.generation,
            value: self.record.0,
            is_called: self.record.1,
            after: self.forced.is_none().then_some(self.base),
            needed,
        }
    }

    /// Claims for generations `(logged, upto]` will not be granted.
    fn lose_through(&mut self, upto: u64) {
        if upto <= self.logged {
            return;
        }
        self.lost.push_back((self.logged, upto));
        if self.lost.len() > LOST_KEPT {
            if let Some((_, to)) = self.lost.pop_front() {
                self.lost_floor = self.lost_floor.max(to);
            }
        }
        self.mark_logged(upto);
    }

    /// Continues from `position`: whatever is pending extends an older
    /// one, and is lost.
    fn jump(&mut self, position: SequencePosition) {
        self.lose_through(self.generation);
        self.last = position.value;
        self.is_called = position.is_called;
        self.base = position.version;
        self.left = 0;
        self.older = None;
        if self.tip.is_some_and(|t| t.version <= position.version) {
            self.tip = None;
        }
    }
}

impl SequenceState {
    fn new(start: i64) -> Arc<SequenceState> {
        Arc::new(SequenceState {
            inner: Mutex::new(Inner {
                last: start,
                is_called: false,
                left: 0,
                span: 0,
                older: None,
                chunk: FETCHES_AHEAD_MIN,
                record: (start, false),
                generation: 0,
                logged: 0,
                forced: None,
                base: 0,
                tip: None,
                lost: Default::default(),
                lost_floor: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The record that must be made durable before values handed out so
    /// far are used (or, not `needed`, one made ahead of need), if it is
    /// not yet.
    pub fn pending(&self, id: TableId) -> Option<SequenceClaim> {
        let s = self.lock();
        (s.generation > s.logged).then(|| s.claim(id, s.forced.is_some() || s.older.is_none()))
    }

    /// Records up to `generation` are durable.
    pub fn logged(&self, generation: u64) {
        self.lock().mark_logged(generation);
    }

    /// The newest generation made durable.
    pub fn logged_generation(&self) -> u64 {
        self.lock().logged
    }

    /// Cluster: the claim of `generation` was granted; the position is at
    /// `version`.
    pub fn granted(&self, generation: u64, version: u64) {
        let mut s = self.lock();
        s.mark_logged(generation);
        s.base = s.base.max(version);
        if s.tip.is_some_and(|t| t.version <= s.base) {
            s.tip = None;
        }
    }

    /// Cluster: the claim of `generation` was lost; the position is at
    /// `position`, where the sequence goes on (unless a `setval` waits
    /// to set it).
    pub fn lost(&self, generation: u64, position: SequencePosition) {
        let mut s = self.lock();
        s.lose_through(generation);
        if s.forced.is_some() || position.version <= s.base {
            return;
        }
        match s.older {
            // A record made ahead of need was lost: the values of the
            // granted one before it are still the node's; it goes on from
            // the position once they are used.
            Some((_, k)) if k > 0 => {
                s.left = k;
                if s.tip.is_none_or(|t| position.version > t.version) {
                    s.tip = Some(position);
                }
            }
            _ => s.jump(position),
        }
    }

    /// Cluster: the position moved to `position` (by node `position.node`;
    /// this node is `me`): once the node's values run out, it goes on from
    /// there; at once if it was set (`setval` on another node).
    pub fn observe(&self, position: SequencePosition, me: u64) {
        let mut s = self.lock();
        if position.node == me || position.version <= s.base {
            return;
        }
        if position.reset && s.forced.is_none() {
            s.jump(position);
        } else if s.tip.is_none_or(|t| position.version > t.version) {
            s.tip = Some(position);
        }
    }

    /// Cluster, at start-up: the sequence goes on from the cluster's
    /// position (the values a previous run held are skipped).
    pub fn restore_position(&self, position: SequencePosition) {
        let mut s = self.lock();
        if position.version > s.base {
            s.jump(position);
            s.lost.clear();
            s.lost_floor = 0;
        }
    }

    /// Values handed out under generations `from..=to` are unusable: a
    /// claim among them was lost.
    pub fn is_lost(&self, from: u64, to: u64) -> bool {
        let s = self.lock();
        from <= s.lost_floor || s.lost.iter().any(|(a, b)| from <= *b && to > *a)
    }

    /// Recovery: the sequence restarts from a durable record.
    pub fn restore(&self, generation: u64, last: i64, is_called: bool) {
        let mut s = self.lock();
        if generation >= s.generation {
            s.last = last;
            s.is_called = is_called;
            s.left = 0;
            s.older = None;
            s.generation = generation;
            s.logged = generation;
            s.record = (last, is_called);
        }
    }

    /// A record of exactly where the sequence is (a clean shutdown: it then
    /// resumes without a gap, as PostgreSQL's does); the next `nextval`
    /// writes a new record ahead. In a cluster it gives the unused values
    /// back only if the position is still this node's.
    pub fn exact(&self, id: TableId) -> SequenceClaim {
        let mut s = self.lock();
        s.generation += 1;
        s.record = (s.last, s.is_called);
        s.left = 0;
        s.older = None;
        s.claim(id, true)
    }

    /// The definition changed (ALTER SEQUENCE): the next `nextval` writes
    /// a new record, since how far ahead the last one is was counted in
    /// steps of the old increment.
    pub fn recount(&self) {
        let mut s = self.lock();
        s.left = 0;
        s.older = None;
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
            if let Some(claim) = s.state.pending(s.id) {
                assert!(claim.is_called);
                s.state.logged(claim.generation);
                logged = Some(claim.value);
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
        let claim = s.state.pending(s.id).unwrap();
        let ahead = claim.value;
        s.state.logged(claim.generation);
        // ALTER SEQUENCE … INCREMENT 1000: same value, new definition.
        let mut altered = seq(SequenceOptions {
            increment: Some(1000),
            ..Default::default()
        });
        altered.state = s.state.clone();
        altered.state.recount();
        let v = altered.next().unwrap();
        assert!(v > ahead, "the old record no longer covers {v}");
        let claim = altered.state.pending(altered.id).expect("a new record");
        assert!(claim.value >= v);
    }

    #[test]
    fn an_exact_record_resumes_without_a_gap() {
        let s = seq(SequenceOptions::default());
        for _ in 0..5 {
            s.next().unwrap();
        }
        let exact = s.state.exact(s.id);
        assert_eq!((exact.value, exact.is_called), (5, true));
        // What recovery does with it.
        let restarted = seq(SequenceOptions::default());
        restarted
            .state
            .restore(exact.generation, exact.value, exact.is_called);
        assert_eq!(restarted.next().unwrap(), 6);
        // The next value after the exact record needs a new one ahead.
        assert_eq!(s.next().unwrap(), 6);
        assert!(s.state.pending(s.id).is_some_and(|claim| claim.value >= 6));
    }

    /// Two nodes' states of one sequence and the cluster's position, as
    /// `Metadata` keeps it: a claim is granted only if it extends the
    /// position's version.
    struct Cluster {
        position: Option<SequencePosition>,
    }

    impl Cluster {
        fn settle(&mut self, s: &SequenceDef, node: u64) {
            let Some(claim) = s.state.pending(s.id) else {
                return;
            };
            let version = self.position.map_or(0, |p| p.version);
            if claim.after.is_none_or(|a| a == version) {
                let p = SequencePosition {
                    value: claim.value,
                    is_called: claim.is_called,
                    version: version + 1,
                    node,
                    reset: claim.after.is_none(),
                };
                self.position = Some(p);
                s.state.granted(claim.generation, p.version);
            } else {
                s.state.lost(claim.generation, self.position.unwrap());
            }
        }
    }

    #[test]
    fn nodes_never_use_the_same_value() {
        let a = seq(SequenceOptions::default());
        let b = seq(SequenceOptions::default());
        let mut cluster = Cluster { position: None };
        let mut used = std::collections::HashSet::new();
        let mut lost = 0;
        for round in 0..2000 {
            // Each draws a few values, as a statement does, then settles
            // and uses them unless a claim of theirs was lost.
            for (node, s) in [(1, &a), (2, &b)] {
                let n = 1 + (round * node as usize) % 7;
                let drawn: Vec<(i64, u64)> = (0..n).map(|_| s.draw().unwrap()).collect();
                if round % 3 == 0 {
                    // The other node learns of the position late, or now.
                    let other = if node == 1 { &b } else { &a };
                    if let Some(p) = cluster.position {
                        other.state.observe(p, 3 - node);
                    }
                }
                cluster.settle(s, node);
                let (lo, hi) = (drawn[0].1, drawn[n - 1].1);
                if s.state.is_lost(lo, hi) {
                    lost += 1;
                    continue;
                }
                for (v, _) in drawn {
                    assert!(used.insert(v), "{v} used twice");
                }
            }
        }
        assert!(lost < 100, "{lost} statements lost their values");
    }

    #[test]
    fn a_prefetched_record_is_not_needed_and_a_setval_is_unconditional() {
        let s = seq(SequenceOptions::default());
        let mut cluster = Cluster { position: None };
        s.draw().unwrap();
        cluster.settle(&s, 1);
        // Past half the record: the next one is made, not yet needed.
        let mut prefetched = None;
        for _ in 0..40 {
            let (_, g) = s.draw().unwrap();
            if let Some(claim) = s.state.pending(s.id) {
                assert!(!claim.needed || claim.generation == g);
                prefetched.get_or_insert(claim);
            }
        }
        assert!(prefetched.is_some_and(|c| !c.needed));
        // Another node sets the position; this node's setval still wins.
        cluster.position = Some(SequencePosition {
            value: 5000,
            is_called: true,
            version: 9,
            node: 2,
            reset: false,
        });
        s.set(100, true).unwrap();
        let claim = s.state.pending(s.id).unwrap();
        assert_eq!((claim.after, claim.needed, claim.value), (None, true, 100));
        cluster.settle(&s, 1);
        assert_eq!(cluster.position.unwrap().value, 100);
        assert_eq!(s.next().unwrap(), 101);
        // A setval on another node: this node goes on from it at once.
        let other = seq(SequenceOptions::default());
        other.next().unwrap();
        cluster.settle(&other, 2);
        other.set(7000, true).unwrap();
        cluster.settle(&other, 2);
        s.state.observe(cluster.position.unwrap(), 1);
        assert_eq!(s.next().unwrap(), 7001);
    }

    #[test]
    fn a_lost_prefetch_keeps_the_values_already_granted() {
        let a = seq(SequenceOptions::default());
        let b = seq(SequenceOptions::default());
        let mut cluster = Cluster { position: None };
        a.draw().unwrap();
        cluster.settle(&a, 1);
        // Past half of a's record: its next one is made ahead of need…
        let mut last = 0;
        while a.state.pending(a.id).is_none() {
            last = a.next().unwrap();
        }
        // …but b claims first, and a's claim is lost.
        b.draw().unwrap();
        cluster.settle(&b, 2);
        let b_from = cluster.position.unwrap().value;
        cluster.settle(&a, 1);
        // a goes on with what it holds, then after b's values.
        let mut next = Vec::new();
        loop {
            let (v, g) = a.draw().unwrap();
            assert!(!a.state.is_lost(g, g));
            next.push(v);
            if v > b_from {
                break;
            }
        }
        assert_eq!(next[0], last + 1);
        assert!(next.windows(2).rev().skip(1).all(|w| w[1] == w[0] + 1));
        assert_eq!(*next.last().unwrap(), b_from + 1);
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
