//! Table statistics for the planner: how many rows each table holds, as
//! the node's shards last counted them, and what ANALYZE found of each
//! column (distinct values, NULLs, smallest and greatest value). The
//! planner orders the items of an inner join by them (the smallest, after
//! its filters, first) instead of by the order they were written in.
//!
//! Counts are keys in each shard's store (a key deleted and not yet
//! collected still counts), published by every shard from its garbage
//! collection loop: approximate and a little late, which is all join
//! order needs.
//!
//! Column statistics come from each shard reading all its rows of a table
//! (`ShardContext::analyze_table`): distinct values as a HyperLogLog
//! sketch ([`DistinctSketch`]) over a hash consistent with `Value`'s
//! equality, so the shards' sketches merge into the table's without
//! double counting a value several shards hold; NULLs and rows are
//! counted, bounds kept. Each shard replaces its own part; the node keeps
//! the merged figures ([`TableColumns`]) ready for the binder. They are
//! as old as the last analysis: a distinct count large next to the rows
//! (a key-like column) grows with the table's rows, as PostgreSQL scales
//! its negative `stadistinct`. Without them, [`selectivity`] keeps
//! PostgreSQL's guesses.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use tessera_types::datetime::USECS_PER_DAY;
use tessera_types::schema::ShardId;
use tessera_types::{TableId, Value};

use crate::expr::{BinaryOp, Expr, Params};

/// Registers of a distinct-values sketch, as a power of two: 2^12 = 4096
/// registers of a byte, a standard error of 1.04/sqrt(4096), about 1.6%.
const SKETCH_PRECISION: u32 = 12;

/// Registers of a distinct-values sketch.
const SKETCH_REGISTERS: usize = 1 << SKETCH_PRECISION;

/// The largest register value: the hash bits below the register index
/// all zero.
const SKETCH_RANK_MAX: usize = 64 - SKETCH_PRECISION as usize + 1;

/// A HyperLogLog sketch of a column's distinct non-NULL values: each value
/// hashed ([`value_hash`]), the top bits choosing a register that keeps
/// the longest run of leading zeros seen in the rest. Two sketches merge
/// by the larger register, so the sketch of a table is the merge of its
/// shards'. Dense while values are added; [`DistinctSketch::compact`]
/// keeps only the registers set, for sketches of few values that the node
/// holds for every shard and column.
#[derive(Clone, PartialEq)]
pub struct DistinctSketch {
    registers: Registers,
}

#[derive(Clone, PartialEq)]
enum Registers {
    Dense(Box<[u8]>),
    /// `index << 8 | rank` of each register set, by index.
    Sparse(Vec<u32>),
}

impl Default for DistinctSketch {
    fn default() -> DistinctSketch {
        DistinctSketch {
            registers: Registers::Dense(vec![0; SKETCH_REGISTERS].into_boxed_slice()),
        }
    }
}

impl std::fmt::Debug for DistinctSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DistinctSketch(~{:.0})", self.estimate())
    }
}

impl DistinctSketch {
    /// Adds a non-NULL value.
    pub fn insert(&mut self, value: &Value) {
        self.insert_hash(value_hash(value));
    }

    /// Adds a value by its 64-bit hash.
    pub fn insert_hash(&mut self, hash: u64) {
        let index = (hash >> (64 - SKETCH_PRECISION)) as usize;
        // A sentinel bit caps the run at the bits left.
        let rest = (hash << SKETCH_PRECISION) | (1 << (SKETCH_PRECISION - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        let registers = self.dense();
        if registers[index] < rank {
            registers[index] = rank;
        }
    }

    /// Adds `other`'s values.
    pub fn merge(&mut self, other: &DistinctSketch) {
        match &other.registers {
            Registers::Dense(theirs) => {
                for (mine, theirs) in self.dense().iter_mut().zip(theirs.iter()) {
                    *mine = (*mine).max(*theirs);
                }
            }
            Registers::Sparse(set) => {
                let mine = self.dense();
                for r in set {
                    let (index, rank) = ((r >> 8) as usize, *r as u8);
                    mine[index] = mine[index].max(rank);
                }
            }
        }
    }

    /// The same sketch holding only the registers set, when that is
    /// smaller.
    pub fn compact(self) -> DistinctSketch {
        let Registers::Dense(registers) = &self.registers else {
            return self;
        };
        let set = registers.iter().filter(|r| **r > 0).count();
        if set * 4 >= SKETCH_REGISTERS {
            return self;
        }
        let sparse = registers
            .iter()
            .enumerate()
            .filter(|(_, r)| **r > 0)
            .map(|(i, r)| (i as u32) << 8 | *r as u32)
            .collect();
        DistinctSketch {
            registers: Registers::Sparse(sparse),
        }
    }

    fn dense(&mut self) -> &mut [u8] {
        if let Registers::Sparse(set) = &self.registers {
            let mut dense = vec![0; SKETCH_REGISTERS].into_boxed_slice();
            for r in set {
                dense[(r >> 8) as usize] = *r as u8;
            }
            self.registers = Registers::Dense(dense);
        }
        match &mut self.registers {
            Registers::Dense(d) => d,
            Registers::Sparse(_) => unreachable!("made dense above"),
        }
    }

    /// The distinct values added, estimated from the registers' histogram
    /// with Ertl's improved estimator ("New cardinality estimation
    /// algorithms for HyperLogLog sketches", 2017), which needs neither
    /// small-range nor bias corrections.
    pub fn estimate(&self) -> f64 {
        let mut histogram = [0u32; SKETCH_RANK_MAX + 1];
        match &self.registers {
            Registers::Dense(d) => {
                for r in d.iter() {
                    histogram[*r as usize] += 1;
                }
            }
            Registers::Sparse(set) => {
                histogram[0] = (SKETCH_REGISTERS - set.len()) as u32;
                for r in set {
                    histogram[(*r as u8) as usize] += 1;
                }
            }
        }
        let m = SKETCH_REGISTERS as f64;
        let q = SKETCH_RANK_MAX - 1;
        let mut z = m * hll_tau(1.0 - histogram[q + 1] as f64 / m);
        for k in (1..=q).rev() {
            z += histogram[k] as f64;
            z *= 0.5;
        }
        z += m * hll_sigma(histogram[0] as f64 / m);
        if z.is_infinite() {
            return 0.0;
        }
        let alpha = 1.0 / (2.0 * std::f64::consts::LN_2);
        alpha * m * m / z
    }
}

/// Ertl's σ(x) = x + Σ x^(2^k) 2^(k-1), for the registers never set.
fn hll_sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// Ertl's τ(x), for the registers at their largest value.
fn hll_tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// A 64-bit hash of a value through `Value`'s `Hash`, so values equal as
/// SQL sees them (1.0 and 1.00 numeric, 'a' and 'a ' char) hash alike.
pub fn value_hash(value: &Value) -> u64 {
    let mut h = SketchHasher(0x243F_6A88_85A3_08D3);
    value.hash(&mut h);
    h.finish()
}

/// A fast hasher whose every output bit depends on every input bit (a
/// folded multiply per word, murmur3's finalizer at the end), as the
/// sketch's registers and runs need.
struct SketchHasher(u64);

impl SketchHasher {
    fn mix(&mut self, word: u64) {
        let m = (self.0 ^ word) as u128 * 0x9E37_79B9_7F4A_7C15u128;
        self.0 = (m as u64) ^ ((m >> 64) as u64) ^ word.rotate_left(32);
    }
}

impl Hasher for SketchHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.mix(v as u64);
    }
    fn write_u16(&mut self, v: u16) {
        self.mix(v as u64);
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
    fn write_i64(&mut self, v: i64) {
        self.mix(v as u64);
    }
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// What one shard found of one column of a table.
#[derive(Debug, Clone, Default)]
pub struct ColumnSketch {
    pub distinct: DistinctSketch,
    pub nulls: u64,
    /// The smallest and greatest values of an orderable scalar type
    /// (integers, numeric, floats but NaN, date, timestamp), `None` for
    /// other types or when there are none.
    pub min: Option<Value>,
    pub max: Option<Value>,
}

impl ColumnSketch {
    /// Adds one row's value.
    pub fn add(&mut self, value: &Value) {
        match value {
            Value::Null => self.nulls += 1,
            Value::Float4(f) if f.is_nan() => self.distinct.insert(value),
            Value::Float8(f) if f.is_nan() => self.distinct.insert(value),
            Value::Int2(_)
            | Value::Int4(_)
            | Value::Int8(_)
            | Value::Float4(_)
            | Value::Float8(_)
            | Value::Numeric(_)
            | Value::Date(_)
            | Value::Timestamp(_)
            | Value::TimestampTz(_) => {
                self.distinct.insert(value);
                Self::widen(&mut self.min, value, std::cmp::Ordering::Less);
                Self::widen(&mut self.max, value, std::cmp::Ordering::Greater);
            }
            _ => self.distinct.insert(value),
        }
    }

    /// Replaces `bound` by `value` when that lies `beyond` it (values of
    /// another type, met after a column changed type, are not compared).
    fn widen(bound: &mut Option<Value>, value: &Value, beyond: std::cmp::Ordering) {
        match bound {
            Some(b) if std::mem::discriminant(b) != std::mem::discriminant(value) => {}
            Some(b) if value.compare(b) != beyond => {}
            _ => *bound = Some(value.clone()),
        }
    }

    fn merge(&mut self, other: &ColumnSketch) {
        self.distinct.merge(&other.distinct);
        self.nulls += other.nulls;
        if let Some(v) = &other.min {
            Self::widen(&mut self.min, v, std::cmp::Ordering::Less);
        }
        if let Some(v) = &other.max {
            Self::widen(&mut self.max, v, std::cmp::Ordering::Greater);
        }
    }
}

/// What one shard found of one table: its rows and each column.
#[derive(Debug, Clone)]
pub struct TableSketch {
    pub rows: u64,
    pub columns: Vec<ColumnSketch>,
}

impl TableSketch {
    pub fn new(width: usize) -> TableSketch {
        TableSketch {
            rows: 0,
            columns: vec![ColumnSketch::default(); width],
        }
    }

    /// Adds a stored row (one stored before columns were added is
    /// shorter: it counts for the columns it has).
    pub fn add_row(&mut self, row: &[Value]) {
        self.rows += 1;
        for (column, value) in self.columns.iter_mut().zip(row) {
            column.add(value);
        }
    }

    /// The sketch as the node keeps it (see [`DistinctSketch::compact`]).
    pub fn compact(mut self) -> TableSketch {
        for c in &mut self.columns {
            c.distinct = std::mem::take(&mut c.distinct).compact();
        }
        self
    }
}

/// What the planner knows of a column, over all shards.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnStats {
    /// Distinct non-NULL values when analyzed.
    pub distinct: f64,
    /// The fraction of rows that are NULL.
    pub null_fraction: f64,
    /// The smallest and greatest non-NULL values, as [`position`]s.
    pub bounds: Option<(f64, f64)>,
}

/// What the planner knows of a table's columns, by position.
#[derive(Debug, Clone, PartialEq)]
pub struct TableColumns {
    /// The rows analyzed.
    pub rows: f64,
    pub columns: Vec<ColumnStats>,
}

impl TableColumns {
    fn merged(shards: &[Option<TableSketch>]) -> TableColumns {
        let width = shards.iter().flatten().map(|s| s.columns.len()).max();
        let mut all = TableSketch::new(width.unwrap_or(0));
        for s in shards.iter().flatten() {
            all.rows += s.rows;
            for (mine, theirs) in all.columns.iter_mut().zip(&s.columns) {
                mine.merge(theirs);
            }
        }
        let rows = all.rows as f64;
        let columns = all
            .columns
            .iter()
            .map(|c| {
                let values = rows - c.nulls as f64;
                let bounds = match (&c.min, &c.max) {
                    (Some(lo), Some(hi)) => position(lo).zip(position(hi)),
                    _ => None,
                };
                ColumnStats {
                    distinct: c.distinct.estimate().min(values).max(0.0),
                    null_fraction: if rows > 0.0 {
                        c.nulls as f64 / rows
                    } else {
                        0.0
                    },
                    bounds,
                }
            })
            .collect();
        TableColumns { rows, columns }
    }

    /// Column `column`'s statistics, when analyzed rows had it.
    pub fn column(&self, column: usize) -> Option<&ColumnStats> {
        self.columns.get(column).filter(|_| self.rows > 0.0)
    }

    /// Column `column`'s distinct values in a table now of `rows` rows: as
    /// analyzed, or, for a column whose values were mostly distinct (more
    /// than a tenth of the rows, as PostgreSQL decides), grown or shrunk
    /// with the rows. At least one.
    pub fn distinct(&self, column: usize, rows: f64) -> Option<f64> {
        let c = self.column(column)?;
        let distinct = if c.distinct > 0.1 * self.rows {
            c.distinct * rows / self.rows
        } else {
            c.distinct
        };
        Some(distinct.min(rows * (1.0 - c.null_fraction)).max(1.0))
    }
}

/// Where a value lies on the line its type orders on, for interpolating
/// between a column's bounds: numbers as themselves, dates and timestamps
/// in microseconds since 2000 (so a date column compared with a
/// timestamp lies on the same line). `None` for other types.
pub fn position(value: &Value) -> Option<f64> {
    match value {
        Value::Date(d) => Some(*d as f64 * USECS_PER_DAY as f64),
        Value::Timestamp(t) | Value::TimestampTz(t) => Some(*t as f64),
        Value::Int2(_)
        | Value::Int4(_)
        | Value::Int8(_)
        | Value::Float4(_)
        | Value::Float8(_)
        | Value::Numeric(_) => value.to_f64().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// Per table and shard, what the shard last found (see [`TableSketch`]),
/// and the merged figures.
#[derive(Debug)]
struct Analyzed {
    shards: Vec<Option<TableSketch>>,
    merged: Arc<TableColumns>,
}

/// Rows per table and shard of one node, and column statistics.
#[derive(Debug, Default)]
pub struct TableStats {
    counts: RwLock<HashMap<TableId, Vec<u64>>>,
    /// Per table, the approximate bytes of its versions on each shard.
    bytes: RwLock<HashMap<TableId, Vec<u64>>>,
    columns: RwLock<HashMap<TableId, Analyzed>>,
}

/// Replaces `shard`'s numbers in `all` with `numbers` (tables it no
/// longer has count 0 there); tables no shard counts are dropped.
fn replace_shard(
    all: &mut HashMap<TableId, Vec<u64>>,
    shard: ShardId,
    numbers: impl IntoIterator<Item = (TableId, usize)>,
) {
    let shard = shard as usize;
    for per_shard in all.values_mut() {
        if let Some(n) = per_shard.get_mut(shard) {
            *n = 0;
        }
    }
    for (table, n) in numbers {
        let per_shard = all.entry(table).or_default();
        if per_shard.len() <= shard {
            per_shard.resize(shard + 1, 0);
        }
        per_shard[shard] = n as u64;
    }
    all.retain(|_, per_shard| per_shard.iter().any(|n| *n > 0));
}

/// The statistics of the node this process runs, for the SQL functions
/// that report sizes (`pg_relation_size` and its kin).
static NODE_STATS: std::sync::OnceLock<std::sync::Arc<TableStats>> = std::sync::OnceLock::new();

/// Makes `stats` the node's, for [`node_stats`] (once per process).
pub fn install_node_stats(stats: std::sync::Arc<TableStats>) {
    let _ = NODE_STATS.set(stats);
}

/// The node's statistics, once a node runs in this process.
pub fn node_stats() -> Option<&'static TableStats> {
    NODE_STATS.get().map(|s| &**s)
}

impl TableStats {
    /// Replaces `shard`'s counts with `counts` (tables it no longer holds
    /// rows of count 0 there). A table no shard holds rows of loses its
    /// column statistics too.
    pub fn publish(&self, shard: ShardId, counts: impl IntoIterator<Item = (TableId, usize)>) {
        let Ok(mut all) = self.counts.write() else {
            return;
        };
        replace_shard(&mut all, shard, counts);
        if let Ok(mut columns) = self.columns.write() {
            columns.retain(|table, _| all.contains_key(table));
        }
    }

    /// Replaces `shard`'s byte counts with `bytes` (tables it no longer
    /// holds count 0 there).
    pub fn publish_bytes(&self, shard: ShardId, bytes: impl IntoIterator<Item = (TableId, usize)>) {
        if let Ok(mut all) = self.bytes.write() {
            replace_shard(&mut all, shard, bytes);
        }
    }

    /// Approximate bytes of the table's (or index's) versions over all
    /// shards, as last published (0 when none).
    pub fn bytes(&self, table: TableId) -> u64 {
        self.bytes
            .read()
            .ok()
            .and_then(|all| all.get(&table).map(|per_shard| per_shard.iter().sum()))
            .unwrap_or(0)
    }

    /// Approximate bytes of every table's versions.
    pub fn total_bytes(&self) -> u64 {
        self.bytes
            .read()
            .map(|all| all.values().flatten().sum())
            .unwrap_or(0)
    }

    /// The table's rows over all shards; `None` when no shard has counted any.
    pub fn rows(&self, table: TableId) -> Option<u64> {
        let all = self.counts.read().ok()?;
        all.get(&table).map(|per_shard| per_shard.iter().sum())
    }

    /// Replaces what `shard` found of `table`'s columns.
    pub fn publish_columns(&self, shard: ShardId, table: TableId, sketch: TableSketch) {
        let Ok(mut all) = self.columns.write() else {
            return;
        };
        let shard = shard as usize;
        let entry = all.entry(table).or_insert_with(|| Analyzed {
            shards: Vec::new(),
            merged: Arc::new(TableColumns {
                rows: 0.0,
                columns: Vec::new(),
            }),
        });
        if entry.shards.len() <= shard {
            entry.shards.resize(shard + 1, None);
        }
        entry.shards[shard] = Some(sketch.compact());
        entry.merged = Arc::new(TableColumns::merged(&entry.shards));
    }

    /// The table's column statistics; `None` when no shard has analyzed it.
    pub fn columns(&self, table: TableId) -> Option<Arc<TableColumns>> {
        let all = self.columns.read().ok()?;
        all.get(&table).map(|a| a.merged.clone())
    }
}

/// PostgreSQL's guesses without statistics: equality and pattern matches
/// 0.5% (`DEFAULT_EQ_SEL`), a one-sided range a third
/// (`DEFAULT_INEQ_SEL`), both sides of a range 0.5%
/// (`DEFAULT_RANGE_INEQ_SEL`), IS NULL 0.5% (`DEFAULT_UNK_SEL`).
const DEFAULT_EQ: f64 = 0.005;
const DEFAULT_INEQ: f64 = 1.0 / 3.0;
const DEFAULT_RANGE: f64 = 0.005;
const DEFAULT_IS_NULL: f64 = 0.005;

/// The fraction of rows a condition is guessed to keep, with PostgreSQL's
/// defaults for a column it has no statistics of: equality and pattern
/// matches 0.5%, a one-sided range a third, an IN list 0.5% per value.
pub fn selectivity(condition: &Expr) -> f64 {
    Estimator {
        columns: None,
        rows: 0.0,
    }
    .all(std::slice::from_ref(condition))
}

/// The fraction of a table's rows that all of `conditions` (over the
/// table's columns) are expected to keep, from the table's column
/// statistics where they are known (`columns`, the table now holding
/// `rows`) and PostgreSQL's defaults elsewhere: `col = const` keeps one
/// over the column's distinct values of its non-NULL rows, `col IS NULL`
/// its NULL fraction, `col < const` the fraction of the span between its
/// bounds below the constant; a lower and an upper bound of one column
/// combine as in PostgreSQL (`clauselist_selectivity`): the two fractions
/// less one.
pub fn conjunction_selectivity(
    conditions: &[Expr],
    columns: Option<&TableColumns>,
    rows: f64,
) -> f64 {
    Estimator { columns, rows }.all(conditions)
}

/// A one-sided range condition on a column: its fraction, whether it is
/// an upper bound, and whether it came from statistics.
struct Bound {
    column: usize,
    upper: bool,
    fraction: f64,
    known: bool,
}

struct Estimator<'a> {
    columns: Option<&'a TableColumns>,
    rows: f64,
}

impl Estimator<'_> {
    /// Conditions that must all hold, ranges of one column paired.
    fn all(&self, conditions: &[Expr]) -> f64 {
        let mut flat = Vec::new();
        for c in conditions {
            c.conjunct_refs(&mut flat);
        }
        let mut kept = 1.0;
        // Per column, the tightest lower and upper bound.
        let mut ranges: Vec<(usize, Option<Bound>, Option<Bound>)> = Vec::new();
        for c in flat {
            let Some(b) = self.bound(c) else {
                kept *= self.one(c);
                continue;
            };
            let i = match ranges.iter().position(|r| r.0 == b.column) {
                Some(i) => i,
                None => {
                    ranges.push((b.column, None, None));
                    ranges.len() - 1
                }
            };
            let side = if b.upper {
                &mut ranges[i].2
            } else {
                &mut ranges[i].1
            };
            if side.as_ref().is_none_or(|old| b.fraction < old.fraction) {
                *side = Some(b);
            }
        }
        for (column, lower, upper) in ranges {
            kept *= match (lower, upper) {
                (Some(lo), Some(hi)) if !lo.known && !hi.known => DEFAULT_RANGE,
                (Some(lo), Some(hi)) => {
                    // Both fractions leave out the NULLs: add them back once.
                    let nulls = self.stats(column).map_or(0.0, |c| c.null_fraction);
                    let both = lo.fraction + hi.fraction - 1.0 + nulls;
                    if both > 0.0 {
                        both
                    } else if both < -0.01 {
                        // Bounds that contradict the statistics: small, not tiny.
                        DEFAULT_RANGE
                    } else {
                        1.0e-10
                    }
                }
                (Some(one), None) | (None, Some(one)) => one.fraction,
                (None, None) => 1.0,
            };
        }
        kept.clamp(0.0, 1.0)
    }

    fn stats(&self, column: usize) -> Option<&ColumnStats> {
        self.columns?.column(column)
    }

    /// `column < constant` and the like, with the fraction of rows kept.
    fn bound(&self, condition: &Expr) -> Option<Bound> {
        let Expr::Binary { op, left, right } = condition else {
            return None;
        };
        let (column, op, constant) = match (column_of(left), column_of(right)) {
            (Some(c), None) if is_constant(right) => (c, *op, &**right),
            (None, Some(c)) if is_constant(left) => (c, op.flipped(), &**left),
            _ => return None,
        };
        let upper = match op {
            BinaryOp::Lt | BinaryOp::LtEq => true,
            BinaryOp::Gt | BinaryOp::GtEq => false,
            _ => return None,
        };
        let known = self.stats(column).and_then(|c| {
            let (lo, hi) = c.bounds?;
            let x = position(&constant_value(constant)?)?;
            let below = if x <= lo {
                0.0
            } else if x >= hi {
                1.0
            } else {
                (x - lo) / (hi - lo)
            };
            let fraction = if upper { below } else { 1.0 - below };
            Some(fraction * (1.0 - c.null_fraction))
        });
        Some(Bound {
            column,
            upper,
            fraction: known.unwrap_or(DEFAULT_INEQ),
            known: known.is_some(),
        })
    }

    /// `column = constant`: one over the column's distinct values.
    fn equality(&self, column: usize) -> f64 {
        match (self.columns, self.stats(column)) {
            (Some(t), Some(c)) => {
                let distinct = t.distinct(column, self.rows).unwrap_or(1.0);
                (1.0 - c.null_fraction) / distinct
            }
            _ => DEFAULT_EQ,
        }
    }

    /// One condition (not a conjunction's range, which [`Estimator::all`]
    /// pairs).
    fn one(&self, condition: &Expr) -> f64 {
        let against_constant = |left: &Expr, right: &Expr| match (column_of(left), column_of(right))
        {
            (Some(c), None) if is_constant(right) => Some(c),
            (None, Some(c)) if is_constant(left) => Some(c),
            _ => None,
        };
        match condition {
            Expr::Binary { op, left, right } => match op {
                BinaryOp::Eq => match against_constant(left, right) {
                    Some(c) => self.equality(c),
                    None => DEFAULT_EQ,
                },
                BinaryOp::NotEq => match against_constant(left, right) {
                    Some(c) => {
                        let nulls = self.stats(c).map_or(0.0, |s| s.null_fraction);
                        (1.0 - self.equality(c) - nulls).max(0.0)
                    }
                    None => 1.0 - DEFAULT_EQ,
                },
                BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => {
                    self.bound(condition).map_or(DEFAULT_INEQ, |b| b.fraction)
                }
                BinaryOp::And => self.all(&[(**left).clone(), (**right).clone()]),
                BinaryOp::Or => {
                    let (a, b) = (self.one(left), self.one(right));
                    a + b - a * b
                }
                _ => 0.5,
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let each = column_of(expr).map_or(DEFAULT_EQ, |c| self.equality(c));
                let any =
                    (each * list.len() as f64).min(if self.stats_of(expr) { 1.0 } else { 0.5 });
                if *negated {
                    1.0 - any
                } else {
                    any
                }
            }
            Expr::IsNull { expr, negated } => {
                let nulls = column_of(expr)
                    .and_then(|c| self.stats(c))
                    .map_or(DEFAULT_IS_NULL, |c| c.null_fraction);
                if *negated {
                    1.0 - nulls
                } else {
                    nulls
                }
            }
            Expr::Like { .. } => DEFAULT_EQ,
            Expr::Not(inner) => 1.0 - self.one(inner),
            _ => 0.5,
        }
    }

    fn stats_of(&self, e: &Expr) -> bool {
        column_of(e).and_then(|c| self.stats(c)).is_some()
    }
}

/// The column an operand reads, as itself or through a cast.
fn column_of(e: &Expr) -> Option<usize> {
    match e {
        Expr::Column(k) => Some(*k),
        Expr::Cast { expr, .. } => column_of(expr),
        _ => None,
    }
}

/// Whether `e` is a value fixed for the statement: a constant, a
/// parameter, or arithmetic and casts over them.
fn is_constant(e: &Expr) -> bool {
    match e {
        Expr::Literal(_) | Expr::Param(_) => true,
        Expr::Cast { expr, .. } | Expr::Neg(expr) => is_constant(expr),
        Expr::Binary {
            op: BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div,
            left,
            right,
        } => is_constant(left) && is_constant(right),
        _ => false,
    }
}

/// The value of a constant (`None` for a parameter, or one that fails:
/// the statement reports that when it runs). Evaluated in UTC, which is
/// near enough for an estimate.
fn constant_value(e: &Expr) -> Option<Value> {
    if let Expr::Literal(v) = e {
        return Some(v.clone());
    }
    if !is_constant(e) || has_param(e) {
        return None;
    }
    e.eval(&[], &Params::default()).ok()
}

fn has_param(e: &Expr) -> bool {
    match e {
        Expr::Param(_) => true,
        Expr::Cast { expr, .. } | Expr::Neg(expr) => has_param(expr),
        Expr::Binary { left, right, .. } => has_param(left) || has_param(right),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

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

    fn relative_error(estimate: f64, actual: f64) -> f64 {
        (estimate - actual).abs() / actual
    }

    #[test]
    fn a_sketch_counts_distinct_values_within_a_few_percent() {
        for n in [0u64, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000] {
            let mut sketch = DistinctSketch::default();
            // Each value twice: repeats do not count.
            for _ in 0..2 {
                for i in 0..n {
                    sketch.insert(&Value::Int8(i as i64 * 7919));
                }
            }
            let estimate = sketch.estimate();
            if n == 0 {
                assert_eq!(estimate, 0.0);
                continue;
            }
            let error = relative_error(estimate, n as f64);
            assert!(error < 0.04, "{n} values estimated as {estimate}");
            // Compacting keeps the estimate.
            assert_eq!(sketch.clone().compact().estimate(), estimate);
        }
        let mut text = DistinctSketch::default();
        for i in 0..200_000 {
            text.insert(&Value::Text(format!("customer#{i:09}")));
        }
        let error = relative_error(text.estimate(), 200_000.0);
        assert!(error < 0.04, "text estimated as {}", text.estimate());
    }

    #[test]
    fn sketches_merge_without_counting_shared_values_twice() {
        // Two shards of 600k values each, 200k of them on both.
        let (mut a, mut b) = (DistinctSketch::default(), DistinctSketch::default());
        for i in 0..600_000i64 {
            a.insert(&Value::Int4(i as i32));
            b.insert(&Value::Int4((i + 400_000) as i32));
        }
        let mut merged = a.clone();
        merged.merge(&b.clone().compact());
        let error = relative_error(merged.estimate(), 1_000_000.0);
        assert!(error < 0.04, "merged estimated as {}", merged.estimate());
        // Sparse sketches merge into dense ones and the other way round.
        let mut small = DistinctSketch::default();
        for i in 0..50i64 {
            small.insert(&Value::Int8(i));
        }
        let mut into_sparse = small.clone().compact();
        into_sparse.merge(&a);
        let mut into_dense = a.clone();
        into_dense.merge(&small.compact());
        assert_eq!(into_sparse.estimate(), into_dense.estimate());
    }

    #[test]
    fn values_equal_in_sql_hash_alike() {
        let one = Value::Numeric(Decimal::new(1, 0).into());
        let one_point_zero = Value::Numeric(Decimal::new(100, 2).into());
        assert_eq!(value_hash(&one), value_hash(&one_point_zero));
        assert_eq!(
            value_hash(&Value::Int2(5)),
            value_hash(&Value::Int8(5)),
            "integers of any width"
        );
        assert_eq!(
            value_hash(&Value::BpChar("ab  ".into())),
            value_hash(&Value::BpChar("ab".into()))
        );
        assert_ne!(value_hash(&Value::Int8(1)), value_hash(&Value::Int8(2)));
        assert_ne!(
            value_hash(&Value::Text("a".into())),
            value_hash(&Value::Text("b".into()))
        );
    }

    /// A table of 10,000 rows over two shards: column 0 a key, column 1
    /// 25 values, column 2 dates over 1,000 days with a tenth NULL.
    fn analyzed() -> TableColumns {
        let mut shards = vec![TableSketch::new(3), TableSketch::new(3)];
        for i in 0..10_000i64 {
            let date = if i % 10 == 0 {
                Value::Null
            } else {
                Value::Date((i % 1000) as i32)
            };
            shards[(i % 2) as usize].add_row(&[Value::Int8(i), Value::Int4((i % 25) as i32), date]);
        }
        let stats = TableStats::default();
        stats.publish(0, [(1, 5000)]);
        stats.publish(1, [(1, 5000)]);
        for (shard, sketch) in shards.into_iter().enumerate() {
            stats.publish_columns(shard as ShardId, 1, sketch);
        }
        (*stats.columns(1).expect("analyzed")).clone()
    }

    fn compare(op: BinaryOp, column: usize, value: Value) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(Expr::Column(column)),
            right: Box::new(Expr::Literal(value)),
        }
    }

    #[test]
    fn merged_statistics_describe_the_whole_table() {
        let t = analyzed();
        assert_eq!(t.rows, 10_000.0);
        assert!(relative_error(t.columns[0].distinct, 10_000.0) < 0.04);
        assert_eq!(t.columns[1].distinct.round(), 25.0);
        assert_eq!(t.columns[1].bounds, Some((0.0, 24.0)));
        assert!((t.columns[2].null_fraction - 0.1).abs() < 1e-9);
        let day = USECS_PER_DAY as f64;
        assert_eq!(t.columns[2].bounds, Some((day, 999.0 * day)));
        // The key's distinct values grow with the table, the others not.
        assert!(relative_error(t.distinct(0, 20_000.0).unwrap_or(0.0), 20_000.0) < 0.04);
        assert_eq!(t.distinct(1, 20_000.0).map(f64::round), Some(25.0));
        assert_eq!(t.distinct(3, 20_000.0), None);
    }

    #[test]
    fn statistics_shape_the_selectivity_of_conditions() {
        let t = analyzed();
        let kept = |c: &[Expr]| conjunction_selectivity(c, Some(&t), 10_000.0);
        let near = |a: f64, b: f64| (a - b).abs() < 0.01 * b.max(0.001);
        // Equality: one of 25 values.
        let eq = compare(BinaryOp::Eq, 1, Value::Int4(3));
        assert!(near(kept(std::slice::from_ref(&eq)), 0.04));
        // A key: one row.
        assert!(kept(&[compare(BinaryOp::Eq, 0, Value::Int8(3))]) < 0.000_11);
        // IS NULL: the NULL fraction.
        let is_null = Expr::IsNull {
            expr: Box::new(Expr::Column(2)),
            negated: false,
        };
        assert!(near(kept(&[is_null]), 0.1));
        // A range: interpolated between the bounds, NULLs left out.
        let below = compare(BinaryOp::Lt, 2, Value::Date(500));
        let expected = (499.0 / 998.0) * 0.9;
        assert!(near(kept(std::slice::from_ref(&below)), expected));
        // A date column against a timestamp constant: the same line.
        let ts = Value::Timestamp(500 * USECS_PER_DAY);
        assert!(near(kept(&[compare(BinaryOp::Lt, 2, ts)]), expected));
        // Both sides of a range: the two fractions less one (NULLs once).
        let above = compare(BinaryOp::GtEq, 2, Value::Date(400));
        let both = kept(&[above.clone(), below.clone()]);
        assert!(near(both, (100.0 / 998.0) * 0.9), "{both}");
        // Beyond the bounds: next to nothing.
        assert!(kept(&[compare(BinaryOp::Gt, 1, Value::Int4(100))]) < 1e-9);
        // A constant written as arithmetic is evaluated.
        let sum = Expr::Binary {
            op: BinaryOp::Add,
            left: Box::new(Expr::Literal(Value::Int4(10))),
            right: Box::new(Expr::Literal(Value::Int4(2))),
        };
        let le = Expr::Binary {
            op: BinaryOp::LtEq,
            left: Box::new(Expr::Column(1)),
            right: Box::new(sum),
        };
        assert!(near(kept(&[le]), 0.5));
        // Without statistics: PostgreSQL's guesses, both sides 0.5%.
        let guessed = |c: &[Expr]| conjunction_selectivity(c, None, 10_000.0);
        assert_eq!(guessed(std::slice::from_ref(&eq)), 0.005);
        assert_eq!(guessed(std::slice::from_ref(&below)), 1.0 / 3.0);
        assert_eq!(guessed(&[above, below]), 0.005);
    }
}
