//! The batch executor: expressions evaluated over a batch of rows at a
//! time, with a selection vector saying which rows are still live.
//!
//! A batch is up to [`BATCH_ROWS`] rows borrowed from where they live (a
//! shard's table, the rows a join made), never copied into it. Evaluating
//! an expression over a batch yields a [`Vector`]: a column of the input
//! rows is borrowed as it is, a literal or parameter is one value for every
//! row, and only computed results are held, one per row position. A
//! condition narrows the selection instead of producing values, so the
//! right side of `AND` runs only on rows the left side kept, and every
//! operator is dispatched once per batch instead of once per row.
//!
//! Operators without a batch kernel (function calls, subqueries) run the
//! row evaluator ([`Expr::eval`]) on each selected row, so both evaluate
//! every expression the same way; the batch kernels call the same
//! functions ([`binary_ref`], [`like_values`]) on borrowed values.
//!
//! Nothing is allocated per row except the values an expression creates
//! (the text `substring` returns, a group's key the first time it is
//! seen): no row vectors, no copies of the columns read.

use std::cmp::Ordering;
use std::hash::{BuildHasher, Hash, Hasher};

use tessera_types::{Error, Result, Value};

use crate::expr::{binary_ref, like_values, BinaryOp, Expr, Params};

/// Rows in a batch: enough to spread each operator's dispatch thin, few
/// enough for the batch's vectors to stay in cache.
pub const BATCH_ROWS: usize = 1024;

/// The truth of a condition for one row: SQL's three values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    False,
    True,
    Unknown,
}

impl Truth {
    fn of(v: &Value) -> Truth {
        match v.as_bool() {
            Some(true) => Truth::True,
            Some(false) => Truth::False,
            None => Truth::Unknown,
        }
    }

    fn value(self) -> Value {
        match self {
            Truth::True => Value::Bool(true),
            Truth::False => Value::Bool(false),
            Truth::Unknown => Value::Null,
        }
    }
}

/// An expression's values over a batch, by row position; only the
/// positions of the selection it was evaluated for hold values.
#[derive(Debug)]
pub enum Vector<'a> {
    /// Column `n` of the input rows, read in place.
    Column(usize),
    /// The same value for every row: a literal or a parameter.
    Const(&'a Value),
    /// The same value for every row, computed once (a cast literal).
    Owned(Value),
    /// One computed value per row position.
    Values(Vec<Value>),
}

impl<'a> Vector<'a> {
    /// The value at row position `i`.
    #[inline]
    pub fn get<'s>(&'s self, rows: &'s [&'s [Value]], i: usize) -> &'s Value {
        match self {
            Vector::Column(c) => &rows[i][*c],
            Vector::Const(v) => v,
            Vector::Owned(v) => v,
            Vector::Values(v) => &v[i],
        }
    }

    /// The value at row position `i`, moved out when computed (each
    /// position is taken once), copied otherwise.
    #[inline]
    pub fn take(&mut self, rows: &[&[Value]], i: usize) -> Value {
        match self {
            Vector::Column(c) => rows[i][*c].clone(),
            Vector::Const(v) => (*v).clone(),
            Vector::Owned(v) => v.clone(),
            Vector::Values(v) => std::mem::replace(&mut v[i], Value::Null),
        }
    }
}

/// A row position list in increasing order.
pub type Selection = Vec<u32>;

/// Every position of a batch of `n` rows.
pub fn all_rows(n: usize) -> Selection {
    (0..n as u32).collect()
}

fn nulls(n: usize) -> Vec<Value> {
    std::iter::repeat_with(|| Value::Null).take(n).collect()
}

/// Evaluates expressions over one batch of rows.
pub struct BatchEval<'a> {
    rows: &'a [&'a [Value]],
    params: &'a Params,
}

impl<'a> BatchEval<'a> {
    pub fn new(rows: &'a [&'a [Value]], params: &'a Params) -> BatchEval<'a> {
        BatchEval { rows, params }
    }

    pub fn rows(&self) -> &'a [&'a [Value]] {
        self.rows
    }

    /// The positions of `sel` where condition `e` is TRUE (NULL and FALSE
    /// drop the row), in order. The conjuncts of an `AND` narrow the
    /// selection in turn, as PostgreSQL's qualifier lists do: a conjunct
    /// runs only on rows every earlier one passed.
    pub fn filter(&self, e: &'a Expr, sel: &[u32]) -> Result<Selection> {
        match e {
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
            } => {
                let kept = self.filter(left, sel)?;
                self.filter(right, &kept)
            }
            Expr::Binary {
                op: BinaryOp::Or,
                left,
                right,
            } => {
                let left_truth = self.truth(left, sel)?;
                let (pass, rest): (Selection, Selection) = sel
                    .iter()
                    .partition(|&&i| left_truth[i as usize] == Truth::True);
                let also = self.filter(right, &rest)?;
                Ok(merge_sorted(&pass, &also))
            }
            _ => {
                let truth = self.truth(e, sel)?;
                Ok(sel
                    .iter()
                    .copied()
                    .filter(|&i| truth[i as usize] == Truth::True)
                    .collect())
            }
        }
    }

    /// The truth of condition `e` at each position of `sel` (other
    /// positions are left `Unknown`).
    fn truth(&self, e: &'a Expr, sel: &[u32]) -> Result<Vec<Truth>> {
        let n = self.rows.len();
        let mut out = vec![Truth::Unknown; n];
        match e {
            Expr::Binary {
                op: op @ (BinaryOp::And | BinaryOp::Or),
                left,
                right,
            } => {
                // The right side runs where the left does not decide.
                let decides = if *op == BinaryOp::And {
                    Truth::False
                } else {
                    Truth::True
                };
                let left_truth = self.truth(left, sel)?;
                let undecided: Selection = sel
                    .iter()
                    .copied()
                    .filter(|&i| left_truth[i as usize] != decides)
                    .collect();
                let right_truth = self.truth(right, &undecided)?;
                for &i in sel {
                    let i = i as usize;
                    out[i] = match (left_truth[i], right_truth[i]) {
                        (l, _) if l == decides => decides,
                        (_, r) if r == decides => decides,
                        (Truth::Unknown, _) | (_, Truth::Unknown) => Truth::Unknown,
                        (l, _) => l,
                    };
                }
            }
            Expr::Binary { op, left, right } if op.is_comparison() => {
                let (l, r) = (self.eval(left, sel)?, self.eval(right, sel)?);
                let zone = &self.params.time.zone;
                for &i in sel {
                    let i = i as usize;
                    let (a, b) = (l.get(self.rows, i), r.get(self.rows, i));
                    out[i] = if a.is_null() || b.is_null() {
                        Truth::Unknown
                    } else {
                        Truth::of(&binary_ref(*op, a, b, zone)?)
                    };
                }
            }
            Expr::Not(inner) => {
                let t = self.truth(inner, sel)?;
                for &i in sel {
                    let i = i as usize;
                    out[i] = match t[i] {
                        Truth::True => Truth::False,
                        Truth::False => Truth::True,
                        Truth::Unknown => Truth::Unknown,
                    };
                }
            }
            Expr::IsNull { expr, negated } => {
                let v = self.eval(expr, sel)?;
                for &i in sel {
                    let i = i as usize;
                    out[i] = truth_of(v.get(self.rows, i).is_null() != *negated);
                }
            }
            Expr::IsBool {
                expr,
                value,
                negated,
            } => {
                let v = self.eval(expr, sel)?;
                for &i in sel {
                    let i = i as usize;
                    let is = v.get(self.rows, i).as_bool() == Some(*value);
                    out[i] = truth_of(is != *negated);
                }
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let v = self.eval(expr, sel)?;
                let items = list
                    .iter()
                    .map(|item| self.eval(item, sel))
                    .collect::<Result<Vec<_>>>()?;
                for &i in sel {
                    let i = i as usize;
                    let x = v.get(self.rows, i);
                    if x.is_null() {
                        continue;
                    }
                    let mut saw_null = false;
                    let mut found = false;
                    for item in &items {
                        let y = item.get(self.rows, i);
                        if y.is_null() {
                            saw_null = true;
                        } else if x.compare(y) == Ordering::Equal {
                            found = true;
                            break;
                        }
                    }
                    out[i] = if found {
                        truth_of(!negated)
                    } else if saw_null {
                        Truth::Unknown
                    } else {
                        truth_of(*negated)
                    };
                }
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => {
                let (v, p) = (self.eval(expr, sel)?, self.eval(pattern, sel)?);
                // A constant pattern is lowered once, not per row.
                let lowered = match (&p, case_insensitive) {
                    (Vector::Const(Value::Text(p)), true) => Some(p.to_lowercase()),
                    _ => None,
                };
                for &i in sel {
                    let i = i as usize;
                    let (value, pat) = (v.get(self.rows, i), p.get(self.rows, i));
                    if let Some(m) = like_values(value, pat, *case_insensitive, lowered.as_deref())
                    {
                        out[i] = truth_of(m != *negated);
                    }
                }
            }
            _ => {
                let v = self.eval(e, sel)?;
                for &i in sel {
                    out[i as usize] = Truth::of(v.get(self.rows, i as usize));
                }
            }
        }
        Ok(out)
    }

    /// The values of `e` at each position of `sel`.
    pub fn eval(&self, e: &'a Expr, sel: &[u32]) -> Result<Vector<'a>> {
        let rows = self.rows;
        match e {
            Expr::Column(c) => {
                if let Some(&i) = sel.iter().find(|&&i| rows[i as usize].len() <= *c) {
                    return Err(Error::internal(format!(
                        "column {c} out of range of a row of {}",
                        rows[i as usize].len()
                    )));
                }
                Ok(Vector::Column(*c))
            }
            Expr::Literal(v) => Ok(Vector::Const(v)),
            Expr::Param(p) if *p < self.params.values.len() => {
                Ok(Vector::Const(&self.params.values[*p]))
            }
            Expr::Outer(o) if *o < self.params.outer.len() => {
                Ok(Vector::Const(&self.params.outer[*o]))
            }
            Expr::Binary { op, .. }
                if op.is_comparison() || matches!(op, BinaryOp::And | BinaryOp::Or) =>
            {
                self.truth_values(e, sel)
            }
            Expr::Not(_)
            | Expr::IsNull { .. }
            | Expr::IsBool { .. }
            | Expr::InList { .. }
            | Expr::Like { .. } => self.truth_values(e, sel),
            Expr::Binary { op, left, right } => {
                let (l, r) = (self.eval(left, sel)?, self.eval(right, sel)?);
                let zone = &self.params.time.zone;
                let mut out = nulls(rows.len());
                for &i in sel {
                    let i = i as usize;
                    out[i] = binary_ref(*op, l.get(rows, i), r.get(rows, i), zone)?;
                }
                Ok(Vector::Values(out))
            }
            Expr::Cast { expr, to, explicit } => {
                let mut inner = self.eval(expr, sel)?;
                let time = &self.params.time;
                if let Vector::Const(v) = inner {
                    return Ok(Vector::Owned(v.clone().cast_with(*to, *explicit, time)?));
                }
                let mut out = nulls(rows.len());
                for &i in sel {
                    let i = i as usize;
                    out[i] = inner.take(rows, i).cast_with(*to, *explicit, time)?;
                }
                Ok(Vector::Values(out))
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => self.case(operand.as_deref(), whens, otherwise.as_deref(), sel),
            _ => {
                // No kernel: the row evaluator, row by row.
                let mut out = nulls(rows.len());
                for &i in sel {
                    out[i as usize] = e.eval(rows[i as usize], self.params)?;
                }
                Ok(Vector::Values(out))
            }
        }
    }

    fn truth_values(&self, e: &'a Expr, sel: &[u32]) -> Result<Vector<'a>> {
        let truth = self.truth(e, sel)?;
        let mut out = nulls(self.rows.len());
        for &i in sel {
            out[i as usize] = truth[i as usize].value();
        }
        Ok(Vector::Values(out))
    }

    /// `CASE`: each branch runs only on the rows no earlier one took.
    fn case(
        &self,
        operand: Option<&'a Expr>,
        whens: &'a [(Expr, Expr)],
        otherwise: Option<&'a Expr>,
        sel: &[u32],
    ) -> Result<Vector<'a>> {
        let rows = self.rows;
        let subject = operand.map(|o| self.eval(o, sel)).transpose()?;
        let mut out = nulls(rows.len());
        let mut remaining: Selection = sel.to_vec();
        for (when, then) in whens {
            if remaining.is_empty() {
                break;
            }
            let (hits, rest): (Selection, Selection) = match &subject {
                Some(s) => {
                    let w = self.eval(when, &remaining)?;
                    remaining.iter().partition(|&&i| {
                        let (a, b) = (s.get(rows, i as usize), w.get(rows, i as usize));
                        !a.is_null() && !b.is_null() && a.compare(b) == Ordering::Equal
                    })
                }
                None => {
                    let t = self.truth(when, &remaining)?;
                    remaining
                        .iter()
                        .partition(|&&i| t[i as usize] == Truth::True)
                }
            };
            if !hits.is_empty() {
                let mut v = self.eval(then, &hits)?;
                for &i in &hits {
                    out[i as usize] = v.take(rows, i as usize);
                }
            }
            remaining = rest;
        }
        if let (Some(o), false) = (otherwise, remaining.is_empty()) {
            let mut v = self.eval(o, &remaining)?;
            for &i in &remaining {
                out[i as usize] = v.take(rows, i as usize);
            }
        }
        Ok(Vector::Values(out))
    }
}

fn truth_of(b: bool) -> Truth {
    if b {
        Truth::True
    } else {
        Truth::False
    }
}

/// The union of two increasing position lists, increasing.
fn merge_sorted(a: &[u32], b: &[u32]) -> Selection {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] < b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// A fast, unkeyed hasher for hash tables the executor builds over a
/// query's values (group keys, join keys): the multiply-and-rotate step
/// of the Firefox hasher. Only the query's own data lands in such a
/// table, so there is no one to aim collisions at another user.
#[derive(Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Spread the high bits down: hashbrown takes its buckets from the
        // low bits and its tags from the top seven.
        self.hash ^ (self.hash >> 29)
    }
}

/// Builds [`FastHasher`]s.
#[derive(Default, Clone, Copy)]
pub struct FastHash;

impl BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher::default()
    }
}

/// The hash of a key made of `values`, the same whether they are held in
/// a row or borrowed from a batch.
#[inline]
pub fn hash_key<'v>(values: impl Iterator<Item = &'v Value>) -> u64 {
    let mut h = FastHasher::default();
    for v in values {
        v.hash(&mut h);
    }
    h.finish()
}

/// Groups found by key: each new key gets the next number, kept in the
/// order the keys were first seen. Looking a key up borrows its values
/// and copies them only when the key is new. The keys are stored side by
/// side (all of one width, learnt from the first), so that finding a
/// group reads one array instead of following a pointer per group.
#[derive(Default)]
pub struct GroupIndex {
    table: hashbrown::HashTable<u32>,
    hashes: Vec<u64>,
    /// The groups' keys, `width` values each, by group number.
    keys: Vec<Value>,
    width: usize,
    groups: usize,
}

impl GroupIndex {
    pub fn len(&self) -> usize {
        self.groups
    }

    pub fn is_empty(&self) -> bool {
        self.groups == 0
    }

    /// The key of group `g`.
    pub fn key(&self, g: usize) -> &[Value] {
        &self.keys[g * self.width..(g + 1) * self.width]
    }

    /// The number of the group whose key is `key` (by
    /// [`Value::compare`], so NULLs form one group), its values copied
    /// when new; and whether it is new. Every key has the first one's
    /// width.
    pub fn find_or_insert<'v, I>(&mut self, key: I) -> (usize, bool)
    where
        I: Iterator<Item = &'v Value> + Clone,
    {
        if self.groups == 0 {
            self.width = key.clone().count();
        }
        debug_assert_eq!(key.clone().count(), self.width, "group keys of one width");
        let hash = hash_key(key.clone());
        let GroupIndex {
            table,
            hashes,
            keys,
            width,
            groups,
        } = self;
        let width = *width;
        let entry = table.entry(
            hash,
            |&g| {
                same_key(
                    &keys[g as usize * width..(g as usize + 1) * width],
                    key.clone(),
                )
            },
            |&g| hashes[g as usize],
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(o) => (*o.get() as usize, false),
            hashbrown::hash_table::Entry::Vacant(v) => {
                let g = *groups;
                v.insert(g as u32);
                keys.extend(key.cloned());
                hashes.push(hash);
                *groups += 1;
                (g, true)
            }
        }
    }

    /// The number of the group whose key is `key`, if there is one.
    pub fn find<'v, I>(&self, key: I) -> Option<usize>
    where
        I: Iterator<Item = &'v Value> + Clone,
    {
        let hash = hash_key(key.clone());
        self.table
            .find(hash, |&g| same_key(self.key(g as usize), key.clone()))
            .map(|&g| g as usize)
    }

    /// The key of group `g`, its values moved out (the group can no
    /// longer be found).
    pub fn take_key(&mut self, g: usize) -> impl Iterator<Item = Value> + '_ {
        self.keys[g * self.width..(g + 1) * self.width]
            .iter_mut()
            .map(std::mem::take)
    }

    /// The keys, by group number, as rows.
    pub fn into_rows(self) -> crate::rows::Rows {
        let mut rows = crate::rows::Rows::with_capacity(self.width, self.groups);
        let mut keys = self.keys.into_iter();
        for _ in 0..self.groups {
            rows.push(keys.by_ref().take(self.width));
        }
        rows
    }

    /// The keys, by group number.
    pub fn into_keys(self) -> Vec<Vec<Value>> {
        match self.width {
            0 => vec![Vec::new(); self.groups],
            w => {
                let mut values = self.keys.into_iter();
                (0..self.groups)
                    .map(|_| values.by_ref().take(w).collect())
                    .collect()
            }
        }
    }
}

/// Whether a group's key holds the values of `key` (by
/// [`Value::compare`]: NULL equals NULL).
fn same_key<'v>(group: &[Value], key: impl Iterator<Item = &'v Value> + Clone) -> bool {
    group.len() == key.clone().count()
        && group
            .iter()
            .zip(key)
            .all(|(a, b)| a.compare(b) == Ordering::Equal)
}

/// The cache lines of a stored row a scan is about to read, asked for
/// while the scan gathers a batch so that the batch's evaluation finds
/// them in cache. Each stored row lives in its own allocation, so without
/// this every row's first read waits for memory in turn; asked for ahead,
/// the misses of a batch's rows overlap.
pub struct RowPrefetch {
    /// Byte offsets into the row's values, one per cache line.
    offsets: Vec<usize>,
    /// The columns read, whose values may keep their bytes elsewhere
    /// (text): asked for once the row itself has come (see
    /// [`RowPrefetch::touch_heap`]).
    columns: Vec<usize>,
}

/// Cache lines asked for per row at most: a batch's worth must stay in
/// the core's cache until it is evaluated.
const PREFETCH_LINES: usize = 6;

impl RowPrefetch {
    /// For a scan reading `columns` (positions in the stored row).
    pub fn new(columns: impl IntoIterator<Item = usize>) -> RowPrefetch {
        const LINE: usize = 64;
        let mut columns: Vec<usize> = columns.into_iter().collect();
        columns.sort_unstable();
        columns.dedup();
        let mut offsets: Vec<usize> = columns
            .iter()
            .map(|c| c * std::mem::size_of::<Value>() / LINE * LINE)
            .collect();
        offsets.dedup();
        offsets.truncate(PREFETCH_LINES);
        columns.truncate(PREFETCH_LINES);
        RowPrefetch { offsets, columns }
    }

    /// Adds `row` to the batch being gathered, asking for its lines, and
    /// for the text of the row [`Self::HEAP_LAG`] rows back, which has
    /// usually come by then.
    #[inline]
    pub fn gather<'r>(&self, batch: &mut Vec<&'r [Value]>, row: &'r [Value]) {
        self.touch(row);
        batch.push(row);
        if let Some(lagging) = batch.len().checked_sub(Self::HEAP_LAG) {
            self.touch_heap(batch[lagging]);
        }
    }

    /// Once `batch` is gathered: asks for the text of its last rows.
    pub fn gathered(&self, batch: &[&[Value]]) {
        let lagging = batch.len().saturating_sub(Self::HEAP_LAG);
        batch[lagging..].iter().for_each(|row| self.touch_heap(row));
    }

    /// Asks for `row`'s lines; reads nothing.
    #[inline]
    fn touch(&self, row: &[Value]) {
        let bytes = std::mem::size_of_val(row);
        let start = row.as_ptr().cast::<u8>();
        for &offset in &self.offsets {
            if offset < bytes {
                prefetch(start.wrapping_add(offset));
            }
        }
    }

    /// Rows gathered between asking for a row and asking for what its
    /// text values point to.
    const HEAP_LAG: usize = 16;

    /// Asks for the first bytes of `row`'s text values among the columns
    /// read; reads the row.
    #[inline]
    fn touch_heap(&self, row: &[Value]) {
        for &c in &self.columns {
            match row.get(c) {
                Some(Value::Text(s) | Value::BpChar(s) | Value::Json(s)) => prefetch(s.as_ptr()),
                Some(Value::Bytea(b)) => prefetch(b.as_ptr()),
                _ => {}
            }
        }
    }
}

#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint to the cache: it neither reads the
    // address for the program nor faults on it.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Function;
    use tessera_types::sqlstate;

    fn col(n: usize) -> Box<Expr> {
        Box::new(Expr::Column(n))
    }

    fn lit(v: Value) -> Box<Expr> {
        Box::new(Expr::Literal(v))
    }

    fn bin(op: BinaryOp, left: Box<Expr>, right: Box<Expr>) -> Expr {
        Expr::Binary { op, left, right }
    }

    /// Every expression gives the same values over a batch as row by row,
    /// NULLs and errors included.
    fn same_as_rows(e: &Expr, rows: &[Vec<Value>]) {
        let params = Params::default();
        let refs: Vec<&[Value]> = rows.iter().map(|r| r.as_slice()).collect();
        let ev = BatchEval::new(&refs, &params);
        let sel = all_rows(rows.len());
        let by_rows: Vec<Result<Value>> = rows.iter().map(|r| e.eval(r, &params)).collect();
        match ev.eval(e, &sel) {
            Ok(mut v) => {
                for (i, expected) in by_rows.into_iter().enumerate() {
                    assert_eq!(v.take(&refs, i), expected.unwrap(), "row {i} of {e:?}");
                }
            }
            Err(err) => assert!(
                by_rows
                    .iter()
                    .any(|r| r.as_ref().err().map(|e| e.code) == Some(err.code)),
                "{e:?}: {err:?}"
            ),
        }
        let passing: Selection = (0..rows.len() as u32)
            .filter(|&i| {
                e.eval_predicate(&rows[i as usize], &params)
                    .unwrap_or(false)
            })
            .collect();
        if let Ok(kept) = ev.filter(e, &sel) {
            assert_eq!(kept, passing, "{e:?}");
        }
    }

    fn sample() -> Vec<Vec<Value>> {
        vec![
            vec![
                Value::Int4(1),
                Value::Text("apple".into()),
                Value::Bool(true),
            ],
            vec![Value::Int4(0), Value::Text("Banana".into()), Value::Null],
            vec![Value::Null, Value::Null, Value::Bool(false)],
            vec![
                Value::Int4(i32::MAX),
                Value::Text("a%b".into()),
                Value::Bool(true),
            ],
        ]
    }

    #[test]
    fn kernels_agree_with_the_row_evaluator() {
        let rows = sample();
        let exprs = vec![
            bin(BinaryOp::Gt, col(0), lit(Value::Int4(0))),
            bin(BinaryOp::Add, col(0), lit(Value::Int4(1))),
            bin(
                BinaryOp::And,
                Box::new(bin(BinaryOp::Eq, col(0), lit(Value::Int4(1)))),
                col(2),
            ),
            bin(
                BinaryOp::Or,
                Box::new(bin(BinaryOp::Eq, col(0), lit(Value::Int4(0)))),
                col(2),
            ),
            Expr::Not(col(2)),
            Expr::IsNull {
                expr: col(1),
                negated: true,
            },
            Expr::InList {
                expr: col(0),
                list: vec![Expr::Literal(Value::Int4(0)), Expr::Literal(Value::Null)],
                negated: true,
            },
            Expr::Like {
                expr: col(1),
                pattern: lit(Value::Text("a%".into())),
                negated: false,
                case_insensitive: true,
            },
            Expr::Case {
                operand: None,
                whens: vec![(
                    bin(BinaryOp::Gt, col(0), lit(Value::Int4(0))),
                    Expr::Literal(Value::Text("pos".into())),
                )],
                otherwise: Some(col(1)),
            },
            Expr::Case {
                operand: Some(col(0)),
                whens: vec![(Expr::Literal(Value::Int4(0)), *col(1))],
                otherwise: None,
            },
            Expr::Call {
                func: Function::Upper,
                args: vec![Expr::Column(1)],
            },
        ];
        for e in &exprs {
            same_as_rows(e, &rows);
        }
    }

    #[test]
    fn a_failing_row_fails_the_batch_with_its_code() {
        let rows = sample();
        // 2147483647 + 1 overflows on the last row only.
        same_as_rows(&bin(BinaryOp::Add, col(0), lit(Value::Int4(1))), &rows);
        let params = Params::default();
        let refs: Vec<&[Value]> = rows.iter().map(|r| r.as_slice()).collect();
        let ev = BatchEval::new(&refs, &params);
        let err = ev
            .eval(
                &bin(BinaryOp::Add, col(0), lit(Value::Int4(1))),
                &all_rows(4),
            )
            .unwrap_err();
        assert_eq!(err.code, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
        // Filtered out first, the row cannot fail.
        let guarded = bin(
            BinaryOp::And,
            Box::new(bin(BinaryOp::Lt, col(0), lit(Value::Int4(5)))),
            Box::new(bin(
                BinaryOp::Gt,
                Box::new(bin(BinaryOp::Add, col(0), lit(Value::Int4(1)))),
                lit(Value::Int4(1)),
            )),
        );
        assert_eq!(ev.filter(&guarded, &all_rows(4)).unwrap(), vec![0]);
    }

    #[test]
    fn groups_are_found_by_borrowed_keys_in_first_seen_order() {
        let mut groups = GroupIndex::default();
        let keys = [
            vec![Value::Text("b".into()), Value::Null],
            vec![Value::Text("a".into()), Value::Int4(1)],
            vec![Value::Text("b".into()), Value::Null],
            vec![Value::Text("a".into()), Value::Int8(1)],
        ];
        let found: Vec<(usize, bool)> = keys
            .iter()
            .map(|k| groups.find_or_insert(k.iter()))
            .collect();
        assert_eq!(found, vec![(0, true), (1, true), (0, false), (1, false)]);
        assert_eq!(groups.len(), 2);
    }
}
