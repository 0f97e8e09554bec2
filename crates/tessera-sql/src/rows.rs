//! [`Rows`]: rows of one width with their values back to back, what the
//! executor hands from operator to operator and from shard to router.
//!
//! A row of a `Vec<Row>` is an allocation of its own: a scan that sends
//! a million rows, a join that holds them and a sort that orders them
//! would make, follow and free a million small blocks. Here a million
//! rows are one vector of values; a row is a slice of it, read in place,
//! and a row handed on moves its values (`mem::take`) instead of its
//! allocation. Only the places that keep rows apart on purpose (a hash
//! set of distinct rows, a key lookup's keys) make vectors of their own.

use std::cmp::Ordering;
use std::ops::Range;

use tessera_types::Value;

use crate::plan::Row;

/// Rows of `width` values each, stored row after row.
///
/// The width is fixed by the constructor, or by the first row pushed
/// into an empty `Rows::default()`. A row of another width is a bug of
/// the caller (the plan gives every operator one width); it is padded
/// with NULLs or cut to the width, so that a wrong result never reads
/// past a row.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Rows {
    width: usize,
    len: usize,
    values: Vec<Value>,
    /// Whether the width is set (an empty default takes its first row's).
    fixed: bool,
}

/// Rows from another node: refused unless `values` holds exactly `len`
/// rows of `width`, which every method here relies on.
impl<'de> serde::Deserialize<'de> for Rows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rows, D::Error> {
        #[derive(serde::Deserialize)]
        struct Wire {
            width: usize,
            len: usize,
            values: Vec<Value>,
            fixed: bool,
        }
        let w = Wire::deserialize(d)?;
        let consistent = match w.width {
            0 => w.values.is_empty(),
            width => width.checked_mul(w.len) == Some(w.values.len()),
        };
        if !consistent || (!w.fixed && w.width != 0 && w.len == 0) {
            return Err(serde::de::Error::custom(format!(
                "{} values do not make {} rows of {}",
                w.values.len(),
                w.len,
                w.width
            )));
        }
        Ok(Rows {
            width: w.width,
            len: w.len,
            values: w.values,
            fixed: w.fixed,
        })
    }
}

impl Rows {
    /// No rows, `width` wide.
    pub fn new(width: usize) -> Rows {
        Rows {
            width,
            len: 0,
            values: Vec::new(),
            fixed: true,
        }
    }

    /// No rows, `width` wide, with room for `rows` of them.
    pub fn with_capacity(width: usize, rows: usize) -> Rows {
        Rows {
            values: Vec::with_capacity(width.saturating_mul(rows)),
            ..Rows::new(width)
        }
    }

    /// The rows of `rows` (each a vector of its own: tests and cold
    /// paths), as wide as the first.
    pub fn from_vecs(rows: Vec<Row>) -> Rows {
        let mut out = match rows.first() {
            Some(first) => Rows::with_capacity(first.len(), rows.len()),
            None => Rows::default(),
        };
        for row in rows {
            out.push(row);
        }
        out
    }

    /// One row.
    pub fn one(row: Row) -> Rows {
        Rows::from_vecs(vec![row])
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i` is not below [`Rows::len`].
    pub fn row(&self, i: usize) -> &[Value] {
        assert!(i < self.len, "row {i} of {}", self.len);
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// Row `i`, to change in place.
    pub fn row_mut(&mut self, i: usize) -> &mut [Value] {
        assert!(i < self.len, "row {i} of {}", self.len);
        &mut self.values[i * self.width..(i + 1) * self.width]
    }

    /// Row `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&[Value]> {
        (i < self.len).then(|| self.row(i))
    }

    pub fn first(&self) -> Option<&[Value]> {
        (self.len > 0).then(|| self.row(0))
    }

    pub fn last(&self) -> Option<&[Value]> {
        self.len.checked_sub(1).map(|i| self.row(i))
    }

    /// The rows in order, in place.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            rows: self,
            range: 0..self.len,
        }
    }

    /// Rows `range`, in place, as a batch for [`crate::batch::BatchEval`].
    pub fn refs(&self, range: Range<usize>) -> Vec<&[Value]> {
        Iter { rows: self, range }.collect()
    }

    /// The rows in batches of at most `size`, for the batch executor.
    pub fn batches(&self, size: usize) -> impl Iterator<Item = Vec<&[Value]>> + '_ {
        let size = size.max(1);
        (0..self.len)
            .step_by(size)
            .map(move |start| self.refs(start..(start + size).min(self.len)))
    }

    /// Adds a row, its values moved in.
    pub fn push(&mut self, row: impl IntoIterator<Item = Value>) {
        let start = self.values.len();
        self.values.extend(row);
        self.commit(start);
    }

    /// Adds a copy of `row`.
    pub fn push_slice(&mut self, row: &[Value]) {
        let start = self.values.len();
        self.values.extend_from_slice(row);
        self.commit(start);
    }

    /// The values, to write a new row at their end and then
    /// [`Rows::commit`] it (or truncate them back).
    pub(crate) fn values_mut(&mut self) -> &mut Vec<Value> {
        &mut self.values
    }

    /// All values, row after row.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Counts the values written since `start` as a row.
    pub(crate) fn commit(&mut self, start: usize) {
        let width = self.values.len() - start;
        if !self.fixed && self.len == 0 {
            self.width = width;
            self.fixed = true;
        } else if width != self.width {
            debug_assert!(
                false,
                "a row of {width} values among rows of {}",
                self.width
            );
            self.values.resize_with(start + self.width, || Value::Null);
        }
        self.len += 1;
    }

    /// Moves `other`'s rows after these.
    pub fn append(&mut self, other: &mut Rows) {
        if other.len == 0 {
            return;
        }
        if self.len == 0 || other.width == self.width {
            if self.len == 0 {
                self.width = other.width;
                self.fixed = true;
            }
            self.values.append(&mut other.values);
            self.len += other.len;
            other.len = 0;
            return;
        }
        for i in 0..other.len {
            let row = other.take(i);
            let start = self.values.len();
            self.values.extend(row);
            self.commit(start);
        }
        other.clear();
    }

    /// Row `i`'s values, moved out (NULLs left behind).
    pub fn take(&mut self, i: usize) -> impl Iterator<Item = Value> + '_ {
        self.row_mut(i).iter_mut().map(std::mem::take)
    }

    /// Row `i` as a vector of its own, moved out.
    pub fn take_vec(&mut self, i: usize) -> Row {
        self.take(i).collect()
    }

    /// The last row, moved out.
    pub fn pop(&mut self) -> Option<Row> {
        let last = self.len.checked_sub(1)?;
        let row = self.values.split_off(last * self.width);
        self.len = last;
        Some(row)
    }

    /// Each row as a vector of its own (cold paths).
    pub fn into_vecs(self) -> Vec<Row> {
        let mut out = Vec::with_capacity(self.len);
        let mut values = self.values.into_iter();
        for _ in 0..self.len {
            out.push(values.by_ref().take(self.width).collect());
        }
        out
    }

    pub fn clear(&mut self) {
        self.values.clear();
        self.len = 0;
    }

    /// Orders the rows by `compare`, stably.
    pub fn sort_by(&mut self, mut compare: impl FnMut(&[Value], &[Value]) -> Ordering) {
        if self.len < 2 {
            return;
        }
        let mut order: Vec<u32> = (0..self.len as u32).collect();
        order.sort_by(|&a, &b| compare(self.row(a as usize), self.row(b as usize)));
        if order.windows(2).any(|w| w[0] > w[1]) {
            self.reorder(&order);
        }
    }

    /// Keeps the rows `keep` says yes to, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[Value]) -> bool) {
        let kept: Vec<u32> = (0..self.len as u32)
            .filter(|&i| keep(self.row(i as usize)))
            .collect();
        if kept.len() < self.len {
            self.reorder(&kept);
        }
    }

    /// Keeps rows `range` (cut to the rows there are).
    pub fn keep_range(&mut self, range: Range<usize>) {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        self.values.truncate(end * self.width);
        self.values.drain(..start * self.width);
        self.len = end - start;
    }

    /// Keeps the rows `order` names, in its order (each at most once).
    fn reorder(&mut self, order: &[u32]) {
        let mut values = Vec::with_capacity(order.len() * self.width);
        for &i in order {
            let i = i as usize;
            values.extend(
                self.values[i * self.width..(i + 1) * self.width]
                    .iter_mut()
                    .map(std::mem::take),
            );
        }
        self.values = values;
        self.len = order.len();
    }

    /// Keeps each row's first `width` values.
    pub fn narrow(&mut self, width: usize) {
        if width >= self.width {
            return;
        }
        let old = self.width;
        let mut at = 0;
        for i in 0..self.len {
            for k in 0..width {
                self.values.swap(at, i * old + k);
                at += 1;
            }
        }
        self.values.truncate(at);
        self.width = width;
    }

    /// The rows placed `offset` values into rows `width` wide, NULL
    /// elsewhere (a FROM item's rows in the joined row's layout).
    pub fn place(self, offset: usize, width: usize) -> Rows {
        if offset == 0 && self.width == width {
            return self;
        }
        let mut out = Rows::with_capacity(width, self.len);
        let keep = self.width.min(width.saturating_sub(offset));
        let mut values = self.values.into_iter();
        for _ in 0..self.len {
            let start = out.values.len();
            out.values
                .extend(std::iter::repeat_with(|| Value::Null).take(offset.min(width)));
            out.values
                .extend(values.by_ref().take(self.width).take(keep));
            out.values.resize_with(start + width, || Value::Null);
            out.len += 1;
        }
        out
    }
}

impl std::ops::Index<usize> for Rows {
    type Output = [Value];

    fn index(&self, i: usize) -> &[Value] {
        self.row(i)
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a [Value];
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<Row> for Rows {
    fn from_iter<I: IntoIterator<Item = Row>>(iter: I) -> Rows {
        let mut out = Rows::default();
        for row in iter {
            out.push(row);
        }
        out
    }
}

/// The rows of a [`Rows`], in place.
#[derive(Clone)]
pub struct Iter<'a> {
    rows: &'a Rows,
    range: Range<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [Value];

    fn next(&mut self) -> Option<&'a [Value]> {
        let i = self.range.next()?;
        Some(self.rows.row(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let i = self.range.next_back()?;
        Some(self.rows.row(i))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(rows: &Rows) -> Vec<Vec<i32>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|v| match v {
                        Value::Int4(i) => *i,
                        Value::Null => -1,
                        other => panic!("{other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    fn of(rows: &[&[i32]]) -> Rows {
        rows.iter()
            .map(|r| r.iter().map(|&i| Value::Int4(i)).collect::<Row>())
            .collect()
    }

    #[test]
    fn rows_keep_their_width_and_order() {
        let mut rows = of(&[&[3, 1], &[1, 2], &[2, 3], &[1, 4]]);
        assert_eq!((rows.len(), rows.width()), (4, 2));
        rows.sort_by(|a, b| a[0].compare(&b[0]));
        assert_eq!(ints(&rows), [[1, 2], [1, 4], [2, 3], [3, 1]], "stable");
        rows.retain(|r| r[1] != Value::Int4(3));
        assert_eq!(ints(&rows), [[1, 2], [1, 4], [3, 1]]);
        rows.keep_range(1..10);
        assert_eq!(ints(&rows), [[1, 4], [3, 1]]);
        rows.narrow(1);
        assert_eq!(ints(&rows), [[1], [3]]);
        let placed = rows.clone().place(1, 3);
        assert_eq!(ints(&placed), [[-1, 1, -1], [-1, 3, -1]]);
        let mut more = of(&[&[7]]);
        rows.append(&mut more);
        assert_eq!(ints(&rows), [[1], [3], [7]]);
        assert!(more.is_empty());
        assert_eq!(rows.take_vec(1), vec![Value::Int4(3)]);
        assert_eq!(rows.clone().into_vecs().len(), 3);
        let batches: Vec<usize> = of(&[&[1], &[2], &[3]])
            .batches(2)
            .map(|b| b.len())
            .collect();
        assert_eq!(batches, [2, 1]);
    }

    #[test]
    fn rows_of_no_columns_are_counted() {
        let mut rows = Rows::new(0);
        rows.push(Vec::new());
        rows.push(Vec::new());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.iter().count(), 2);
        rows.keep_range(1..2);
        assert_eq!(rows.len(), 1);
        assert_eq!(Rows::from_vecs(vec![vec![], vec![]]).len(), 2);
    }
}
