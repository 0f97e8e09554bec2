//! Joins of rows gathered to the router: a hash join on the condition's
//! equalities when it has any, a nested loop otherwise; outer joins keep
//! unmatched rows, whose other side stays NULL. Rows are as wide as the
//! whole FROM (see [`crate::plan::Source`]). Also the other ways rows of
//! two inputs combine: UNION, INTERSECT and EXCEPT, and the rows of VALUES.

use std::collections::HashMap;
use std::sync::Arc;

use tessera_types::{
    memory, sqlstate, Catalog, DataType, Error, IndexDef, Result, TableDef, Value,
};

use crate::batch::{all_rows, hash_key, BatchEval, GroupIndex, BATCH_ROWS};
use crate::expr::{Expr, Params};
use crate::plan::{
    FragmentOutput, Join, JoinKind, KeyLookup, Plan, Recursive, SelectPlan, SetOp, SetOpKind,
    Source, Target,
};
use crate::rows::Rows;

/// The most values a recursive query may hold: past it the recursion is
/// taken not to end, and the statement fails. (Joins are bounded by the
/// node's memory limit instead, see [`memory::check`].)
pub const RECURSIVE_VALUES_MAX: usize = 20_000_000;

/// Loops that accumulate rows check the node's memory this often.
pub const MEMORY_CHECK_ROWS: usize = 1024;

/// An index nested-loop join reads its inner side by key (or filters it
/// by key, see [`LookupPath::filter_of`]) only when the outer side has at
/// most this many distinct keys; past it the inner side is read whole and
/// hash-joined. It bounds the keys a statement holds and sends; whether
/// reading by key pays is [`LookupPath::worth_it`]'s to say. (TPC-H Q21
/// at scale 1 looks up lineitem by 75k order keys, a fiftieth of its
/// rows.)
pub const LOOKUP_KEYS_MAX: usize = 250_000;

/// For a join whose right side is a plain scan that its left rows may
/// narrow (an inner, left, semi or anti join: a right or full join keeps
/// every right row): the scan, and the table columns the join's
/// equalities make equal to a left expression, each once, in the order
/// of the equalities.
fn keyed_columns(join: &Join) -> Option<(PlainScan<'_>, Vec<(usize, &Expr)>)> {
    if join.kind.keeps_right() || join.keys.is_empty() {
        return None;
    }
    let scan = PlainScan::of(&join.right)?;
    let mut columns: Vec<(usize, &Expr)> = Vec::new();
    for (left, right) in &join.keys {
        let Some((k, widened)) = exact_column(right) else {
            continue;
        };
        let Some(Expr::Column(c)) = k.checked_sub(scan.offset).and_then(|i| scan.exprs.get(i))
        else {
            continue;
        };
        let integer = matches!(
            scan.table.columns[*c].data_type,
            DataType::Int2 | DataType::Int4 | DataType::Int8
        );
        if (!widened || integer) && !columns.iter().any(|(x, _)| x == c) {
            columns.push((*c, left));
        }
    }
    Some((scan, columns))
}

/// How the right side of a join can be read by key rather than whole: its
/// table's primary key or one of its indexes, whose leading columns the
/// join's equalities give values for from the left row. The hash join
/// still matches the rows, so reading by key only narrows what is read.
pub struct LookupPath<'a> {
    pub table: &'a Arc<TableDef>,
    pub select: &'a SelectPlan,
    /// Where the right side's columns sit in the join's rows.
    pub offset: usize,
    pub width: usize,
    /// `None`: the primary key.
    pub index: Option<Arc<IndexDef>>,
    /// Per leading column of the path: its position in the table and the
    /// left expression equal to it.
    pub columns: Vec<(usize, &'a Expr)>,
    /// No index: the table is read whole, and the keys only filter it
    /// where it is (see [`LookupPath::filter_of`]).
    pub filter: bool,
}

/// The column `e` reads, and whether it is cast to a wider type: with
/// an integer column widened to int4, int8 or numeric, equal values of
/// `e` still come only from equal values of the column, so a key cast
/// back to the column's type finds every row that can match.
fn exact_column(e: &Expr) -> Option<(usize, bool)> {
    match e {
        Expr::Column(k) => Some((*k, false)),
        Expr::Cast { expr, to, .. } => match (&**expr, to) {
            (Expr::Column(k), DataType::Int4 | DataType::Int8 | DataType::Numeric(_)) => {
                Some((*k, true))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A FROM item that is a table read by a plain scan on every shard: no
/// ordering or limits of its own, no outer references. Each shard's rows
/// of it come in primary-key order. Or the table's rows grouped (a
/// correlated aggregate decorrelated): reading only the rows of some
/// group keys then gives those groups whole.
struct PlainScan<'a> {
    table: &'a Arc<TableDef>,
    select: &'a SelectPlan,
    /// The scan's output: columns of the table, or other expressions
    /// (for groups: a group key's column, else NULL).
    exprs: std::borrow::Cow<'a, [Expr]>,
    /// Where its columns sit in the join's rows.
    offset: usize,
    width: usize,
}

impl<'a> PlainScan<'a> {
    fn of(source: &'a Source) -> Option<PlainScan<'a>> {
        let Source::Query {
            plan,
            offset,
            width,
        } = source
        else {
            return None;
        };
        let Plan::Select(select) = &**plan else {
            return None;
        };
        let f = &select.fragment;
        let plain = select.source.is_none()
            && f.primary_key.is_none()
            && f.series.is_none()
            && f.lookup.is_none()
            && matches!(select.target, Target::AllShards)
            && select.window.is_none()
            && !select.distinct
            && select.distinct_on.is_empty()
            && select.order_by.is_empty()
            && select.limit.is_none()
            && select.offset.is_none()
            && !plan.uses_outer();
        let table = f.table.as_ref().filter(|_| plain)?;
        let exprs = match (&f.output, &select.aggregate) {
            (FragmentOutput::Project(exprs), None) => std::borrow::Cow::Borrowed(&exprs[..]),
            (FragmentOutput::PartialAggregate { group_by, sets, .. }, Some(last))
                if sets.is_empty() =>
            {
                let group_column = |e: &Expr| match e {
                    Expr::Column(g) if *g < last.group_count => group_by.get(*g).cloned(),
                    _ => None,
                };
                let exprs = last.output.iter().map(|e| {
                    group_column(e)
                        .filter(|k| matches!(k, Expr::Column(_)))
                        .unwrap_or_else(Expr::literal_null)
                });
                std::borrow::Cow::Owned(exprs.collect())
            }
            _ => return None,
        };
        Some(PlainScan {
            table,
            select,
            exprs,
            offset: *offset,
            width: *width,
        })
    }

    /// The table column a join expression over the joined row reads, if
    /// it reads one of this scan's output columns as it is.
    fn column(&self, e: &Expr) -> Option<usize> {
        let Expr::Column(k) = e else { return None };
        match k.checked_sub(self.offset).and_then(|i| self.exprs.get(i)) {
            Some(Expr::Column(c)) => Some(*c),
            _ => None,
        }
    }

    /// Whether a shard's rows come out ordered by these table columns:
    /// they are the leading columns of the primary key (read whole, or a
    /// range of it forwards).
    fn ordered_by(&self, columns: &[usize]) -> bool {
        let in_key_order = match &self.select.fragment.index {
            None => true,
            Some(ix) => ix.index.is_none() && !ix.reverse,
        };
        !self.table.has_row_id()
            && self.select.aggregate.is_none()
            && in_key_order
            && self.table.primary_key.len() >= columns.len()
            && self.table.primary_key[..columns.len()] == *columns
    }
}

/// A join both of whose sides are plain scans ordered by the join key (the
/// leading columns of both primary keys, of one type): a merge join needs
/// neither a hash table nor more than a merge of each side's per-shard
/// runs.
pub struct MergePath {
    /// Positions in the joined row of the left and the right key columns,
    /// in merge order; the other equalities are checked per pair.
    pub keys: Vec<(usize, usize)>,
    /// Which of the join's equalities the merge keys are.
    merged: Vec<bool>,
}

impl MergePath {
    pub fn of(join: &Join) -> Option<MergePath> {
        if join.keys.is_empty() || join.kind.filters_left() {
            return None;
        }
        let left = PlainScan::of(&join.left)?;
        let right = PlainScan::of(&join.right)?;
        // Per equality: the left and right table columns it equates.
        let pairs: Vec<Option<(usize, usize)>> = join
            .keys
            .iter()
            .map(|(l, r)| {
                let (lc, rc) = (left.column(l)?, right.column(r)?);
                let same_type = left.table.columns[lc].data_type.unconstrained()
                    == right.table.columns[rc].data_type.unconstrained();
                same_type.then_some((lc, rc))
            })
            .collect();
        let mut keys = Vec::new();
        let mut merged = vec![false; join.keys.len()];
        let (mut left_columns, mut right_columns) = (Vec::new(), Vec::new());
        for &pk in &left.table.primary_key {
            let Some(i) = pairs.iter().position(|p| p.is_some_and(|(lc, _)| lc == pk)) else {
                break;
            };
            let (lc, rc) = pairs[i].unwrap_or_default();
            if right.table.primary_key.get(right_columns.len()) != Some(&rc) {
                break;
            }
            left_columns.push(lc);
            right_columns.push(rc);
            merged[i] = true;
            if let (Expr::Column(lk), Expr::Column(rk)) = &join.keys[i] {
                keys.push((*lk, *rk));
            }
        }
        let ordered =
            !keys.is_empty() && left.ordered_by(&left_columns) && right.ordered_by(&right_columns);
        ordered.then_some(MergePath { keys, merged })
    }

    fn compare(&self, l: &[Value], r: &[Value]) -> std::cmp::Ordering {
        for &(lk, rk) in &self.keys {
            match l[lk].compare(&r[rk]) {
                std::cmp::Ordering::Equal => {}
                other => return other,
            }
        }
        std::cmp::Ordering::Equal
    }

    /// The order of two rows of one side by their merge keys.
    fn compare_side(&self, a: &[Value], b: &[Value], left: bool) -> std::cmp::Ordering {
        for &(lk, rk) in &self.keys {
            let k = if left { lk } else { rk };
            match a[k].compare(&b[k]) {
                std::cmp::Ordering::Equal => {}
                other => return other,
            }
        }
        std::cmp::Ordering::Equal
    }

    /// Whether a merge key of a row of one side is NULL (it matches nothing).
    fn has_null(&self, row: &[Value], left: bool) -> bool {
        self.keys
            .iter()
            .any(|&(lk, rk)| row[if left { lk } else { rk }].is_null())
    }
}

/// An access path (`None`: the primary key) and the leading columns of
/// it a join fixes.
type PathColumns<'e> = (Option<Arc<IndexDef>>, Vec<(usize, &'e Expr)>);

/// A join whose right side is a decorrelated aggregate over several
/// tables (see `binder/decorrelate.rs`: grouped by columns of its rows,
/// over inner joins only), with the left side's keys: the grouped query
/// with one of its tables read only for the rows whose columns the
/// join's equalities fix hold those keys, by key or filtered where it is
/// read (as [`LookupPath`] reads a join's right side). Every row of a
/// group holds the group's key values, so this keeps whole groups, just
/// the ones the left side can join (TPC-H Q2 reads the partsupp rows of
/// the parts its outer query keeps, not all of them). `None` when no
/// table of it can be read so, or the keys are too many for it
/// (`worth_it` says, given a path and how many keys).
/// With the left side's key count, when there is such a table.
pub fn narrowed_groups(
    join: &Join,
    left: &Rows,
    params: &Params,
    catalog: &Catalog,
    worth_it: impl Fn(&LookupPath, usize) -> bool,
) -> Result<Option<(Arc<Plan>, usize)>> {
    let Some((select, keys)) = grouped_keys(join) else {
        return Ok(None);
    };
    let mut narrowed = select.clone();
    let Some(source) = narrowed.source.as_mut() else {
        return Ok(None);
    };
    Ok(
        narrow_item(source, &keys, left, params, catalog, &worth_it)?
            .map(|found| (Arc::new(Plan::Select(Box::new(narrowed))), found)),
    )
}

/// Whether [`narrowed_groups`] may read `join`'s right side by the left
/// side's keys (EXPLAIN says so).
pub fn narrows_groups(join: &Join) -> bool {
    grouped_keys(join).is_some()
}

/// For [`narrowed_groups`]: the right side's grouped query, and per
/// equality with one of its group keys that is a column of its rows, the
/// left expression and that column.
fn grouped_keys(join: &Join) -> Option<(&SelectPlan, Vec<(Expr, Expr)>)> {
    if join.kind.keeps_right() {
        return None;
    }
    let Source::Query { plan, offset, .. } = &join.right else {
        return None;
    };
    let Plan::Select(select) = &**plan else {
        return None;
    };
    let (Some(_), Some(last), FragmentOutput::PartialAggregate { group_by, sets, .. }) =
        (&select.source, &select.aggregate, &select.fragment.output)
    else {
        return None;
    };
    // Which groups there are must not decide what else is returned.
    let whole_groups = select.window.is_none()
        && select.distinct_on.is_empty()
        && select.limit.is_none()
        && select.offset.is_none();
    if !sets.is_empty() || !whole_groups || plan.uses_outer() {
        return None;
    }
    let mut keys = Vec::new();
    for (l, r) in &join.keys {
        let Expr::Column(k) = r else { continue };
        let Some(Expr::Column(g)) = k.checked_sub(*offset).and_then(|i| last.output.get(i)) else {
            continue;
        };
        if let Some(Expr::Column(c)) = group_by.get(*g).filter(|_| *g < last.group_count) {
            keys.push((l.clone(), Expr::Column(*c)));
        }
    }
    (!keys.is_empty()).then_some((&**select, keys))
}

/// The first table under `source`'s inner joins that the equalities
/// `keys` (a left expression, a column of `source`'s rows) let
/// [`narrowed_groups`] read by key, so read; the keys, if there was one.
fn narrow_item(
    source: &mut Source,
    keys: &[(Expr, Expr)],
    left: &Rows,
    params: &Params,
    catalog: &Catalog,
    worth_it: &impl Fn(&LookupPath, usize) -> bool,
) -> Result<Option<usize>> {
    match source {
        Source::Join(join) if join.kind == JoinKind::Inner => {
            match narrow_item(&mut join.left, keys, left, params, catalog, worth_it)? {
                Some(found) => Ok(Some(found)),
                None => narrow_item(&mut join.right, keys, left, params, catalog, worth_it),
            }
        }
        Source::Query { offset, width, .. } => {
            let (offset, width) = (*offset, *width);
            // The item as the right side of a join on those equalities.
            let probe = Join {
                kind: JoinKind::Inner,
                left: Source::Values(vec![]),
                right: source.clone(),
                right_columns: vec![],
                keys: keys.to_vec(),
                residual: None,
            };
            let paths = [
                LookupPath::of(&probe, catalog),
                LookupPath::filter_of(&probe),
            ];
            for path in paths.into_iter().flatten() {
                let Some(found) = path.keys(left, params)? else {
                    continue;
                };
                let count = found.len();
                if worth_it(&path, count) {
                    let plan = path.plan(Arc::new(found));
                    *source = Source::Query {
                        plan,
                        offset,
                        width,
                    };
                    return Ok(Some(count));
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

impl<'a> LookupPath<'a> {
    /// The path for `join`'s right side, if it is a table read by a plain
    /// scan (no aggregates, ordering or limits of its own) and the join's
    /// equalities fix a leading column of its primary key or of an index
    /// whose entries live with the rows; the one fixing more columns wins,
    /// the primary key on a tie. Inner, left, semi and anti joins only: a right or
    /// full join keeps every right row, so must read them all.
    pub fn of(join: &'a Join, catalog: &Catalog) -> Option<LookupPath<'a>> {
        let (scan, keyed) = keyed_columns(join)?;
        let table = scan.table;
        // Table column → the left expression the join makes it equal to.
        let fixed: HashMap<usize, &Expr> = keyed.into_iter().collect();
        let prefix = |columns: &[usize]| -> Vec<(usize, &'a Expr)> {
            columns
                .iter()
                .map_while(|c| fixed.get(c).map(|e| (*c, *e)))
                .collect()
        };
        let mut best: Option<PathColumns> = None;
        if !table.has_row_id() {
            let columns = prefix(&table.primary_key);
            if !columns.is_empty() {
                best = Some((None, columns));
            }
        }
        for ix in catalog.indexes_of(table.id) {
            if ix.is_global(table) {
                continue;
            }
            let columns = prefix(&ix.columns);
            // A unique index has no entries for rows with a NULL in its
            // columns: past the fixed ones, none may be NULL.
            let complete = !ix.unique
                || ix.columns[columns.len()..]
                    .iter()
                    .all(|c| table.columns[*c].not_null || table.primary_key.contains(c));
            if !complete {
                continue;
            }
            if columns.len() > best.as_ref().map_or(0, |(_, c)| c.len()) {
                best = Some((Some(ix.clone()), columns));
            }
        }
        let (index, columns) = best?;
        Some(LookupPath::over(scan, index, columns))
    }

    /// The path reading `scan` through `index` (`None`: the primary key).
    fn over(
        scan: PlainScan<'a>,
        index: Option<Arc<IndexDef>>,
        columns: Vec<(usize, &'a Expr)>,
    ) -> LookupPath<'a> {
        LookupPath {
            table: scan.table,
            select: scan.select,
            offset: scan.offset,
            width: scan.width,
            index,
            columns,
            filter: false,
        }
    }

    /// Without an index path: the right side's table read whole, but
    /// filtered on the shards to the rows whose columns the join's
    /// equalities make equal to the left side's keys, so that only rows
    /// that may join are sent (TPC-H Q21 joins 47 suppliers with the
    /// lineitem rows of 380k that are theirs). Not for a right or full
    /// join, which keeps every right row.
    pub fn filter_of(join: &'a Join) -> Option<LookupPath<'a>> {
        let (scan, columns) = keyed_columns(join)?;
        if columns.is_empty() {
            return None;
        }
        Some(LookupPath {
            filter: true,
            ..LookupPath::over(scan, None, columns)
        })
    }

    /// The distinct keys `left`'s rows give, cast to the path's column
    /// types (a row with a NULL key matches nothing); `None` when there
    /// are more than [`LOOKUP_KEYS_MAX`], or a value does not convert, and
    /// the right side is better read whole.
    pub fn keys(&self, left: &Rows, params: &Params) -> Result<Option<Rows>> {
        let mut seen = GroupIndex::default();
        let mut key = Vec::with_capacity(self.columns.len());
        'rows: for row in left {
            key.clear();
            for (c, e) in &self.columns {
                let v = e.eval(row, params)?;
                if v.is_null() {
                    continue 'rows;
                }
                let column_type = self.table.columns[*c].data_type.unconstrained();
                match v.cast_with(column_type, true, &params.time) {
                    Ok(v) => key.push(v),
                    Err(_) => return Ok(None),
                }
            }
            seen.find_or_insert(key.iter());
            if seen.len() > LOOKUP_KEYS_MAX {
                return Ok(None);
            }
        }
        Ok(Some(seen.into_rows()))
    }

    /// Whether reading `keys` keys by this path beats reading the table
    /// of `rows` rows (when counted) whole: a key of a unique path finds
    /// one row, costing a few rows' worth of work; a key of another path
    /// may find many, so it must be rarer still.
    ///
    /// Keys that only filter are worth sending unless they are about as
    /// many as the table's distinct values of those columns (as ANALYZE
    /// found them; else a tenth of its rows): then they would keep most
    /// rows, each hashed for nothing.
    pub fn worth_it(
        &self,
        keys: usize,
        rows: Option<u64>,
        columns: Option<&crate::stats::TableColumns>,
    ) -> bool {
        let Some(rows) = rows else { return true };
        if self.filter {
            let distinct = match (columns, self.columns.as_slice()) {
                (Some(stats), [(c, _)]) => stats.distinct(*c, rows as f64),
                _ => None,
            };
            let distinct = distinct.unwrap_or(rows as f64 / 10.0);
            return (keys as f64) < distinct / 2.0;
        }
        let unique = match &self.index {
            None => self.columns.len() == self.table.primary_key.len(),
            Some(ix) => ix.unique && self.columns.len() == ix.columns.len(),
        };
        let per_key = if unique { 4 } else { 50 };
        (keys as u64).saturating_mul(per_key) <= rows
    }

    /// Whether every key names the shard its rows are on: the path's
    /// columns hold the whole sharding key.
    pub fn routes(&self) -> bool {
        !self.table.sharding_key.is_empty()
            && self
                .table
                .sharding_key
                .iter()
                .all(|s| self.columns.iter().any(|(c, _)| c == s))
    }

    /// The sharding key encoding of `key` (see [`LookupPath::routes`]).
    pub fn sharding_key(&self, key: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &self.table.sharding_key {
            if let Some(i) = self.columns.iter().position(|(c, _)| c == s) {
                tessera_types::encoding::encode_key_value(&mut out, &key[i]);
            }
        }
        out
    }

    /// The right side's query, reading only the rows of `keys`.
    pub fn plan(&self, keys: Arc<Rows>) -> Arc<Plan> {
        let mut select = self.select.clone();
        select.fragment.index = None;
        select.fragment.lookup = Some(KeyLookup {
            index: self.index.clone(),
            keys,
            filter: self
                .filter
                .then(|| self.columns.iter().map(|(c, _)| *c).collect()),
        });
        Arc::new(Plan::Select(Box::new(select)))
    }

    /// The index's name (PostgreSQL's for a primary key).
    pub fn name(&self) -> String {
        match &self.index {
            Some(ix) => ix.name.clone(),
            None => format!("{}_pkey", self.table.name),
        }
    }

    /// The path's name and columns, as EXPLAIN shows them.
    pub fn describe(&self) -> String {
        let name = self.name();
        let columns: Vec<&str> = self
            .columns
            .iter()
            .map(|(c, _)| self.table.columns[*c].name.as_str())
            .collect();
        format!("{name} ({})", columns.join(", "))
    }
}

/// The rows of `join` over its inputs' rows.
pub fn join_rows(join: &Join, left: Rows, right: Rows, params: &Params) -> Result<Rows> {
    let mut out = Rows::default();
    join_into(join, left, right, None, params, &mut |block| {
        out.append(block);
        memory::check()
    })?;
    Ok(out)
}

/// A join's output: rows written into a block of up to [`BATCH_ROWS`]
/// rows, handed to `emit` whenever it is full and once at the end, so
/// that making a joined row allocates nothing (the consumer reads the
/// rows in place, or moves them on).
pub struct JoinOut<'e> {
    block: Rows,
    emit: &'e mut dyn FnMut(&mut Rows) -> Result<()>,
}

impl<'e> JoinOut<'e> {
    pub fn new(emit: &'e mut dyn FnMut(&mut Rows) -> Result<()>) -> JoinOut<'e> {
        JoinOut {
            block: Rows::default(),
            emit,
        }
    }

    /// Counts the row just written (from `start`).
    fn commit(&mut self, start: usize) -> Result<()> {
        let width = self.block.values().len() - start;
        if !self.block.is_empty() && width != self.block.width() {
            self.block.values_mut().truncate(start);
            return Err(Error::internal(format!(
                "a joined row of {width} values among rows of {}",
                self.block.width()
            )));
        }
        self.block.commit(start);
        if self.block.len() >= BATCH_ROWS {
            (self.emit)(&mut self.block)?;
            self.block.clear();
        }
        Ok(())
    }

    /// A row as it is (an outer join's unmatched left row), its values
    /// moved.
    fn row(&mut self, row: impl Iterator<Item = Value>) -> Result<()> {
        let start = self.block.values().len();
        self.block.values_mut().extend(row);
        self.commit(start)
    }

    /// An outer join's unmatched right row, widened (NULL elsewhere).
    fn widened(&mut self, row: impl Iterator<Item = Value>, at: RightAt) -> Result<()> {
        let Some((offset, width)) = at else {
            return self.row(row);
        };
        let start = self.block.values().len();
        let values = self.block.values_mut();
        values.extend(std::iter::repeat_with(|| Value::Null).take(offset));
        values.extend(row.take(width.saturating_sub(offset)));
        values.resize_with(start + width, || Value::Null);
        self.commit(start)
    }

    /// The row joining `l` and `r`, if it passes the join's residual
    /// condition and the equalities `checked` marks (the others are known
    /// to hold); whether it did.
    fn joined(
        &mut self,
        join: &Join,
        l: &[Value],
        r: &[Value],
        right_at: RightAt,
        checked: &[bool],
        params: &Params,
    ) -> Result<bool> {
        let start = self.block.values().len();
        if !self.pair_passes(join, l, r, right_at, checked, params)? {
            self.block.values_mut().truncate(start);
            return Ok(false);
        }
        self.commit(start)?;
        Ok(true)
    }

    /// Whether `l` and `r` join (see [`JoinOut::joined`]), without
    /// keeping the joined row: a semi or anti join's test.
    fn matches(
        &mut self,
        join: &Join,
        l: &[Value],
        r: &[Value],
        right_at: RightAt,
        params: &Params,
    ) -> Result<bool> {
        let start = self.block.values().len();
        let passes = self.pair_passes(join, l, r, right_at, &[], params);
        self.block.values_mut().truncate(start);
        passes
    }

    /// Writes the row joining `l` and `r` at the end of the block and
    /// tells whether it passes; the caller keeps or drops it.
    fn pair_passes(
        &mut self,
        join: &Join,
        l: &[Value],
        r: &[Value],
        right_at: RightAt,
        checked: &[bool],
        params: &Params,
    ) -> Result<bool> {
        let values = self.block.values_mut();
        let start = values.len();
        values.extend_from_slice(l);
        let row = &mut values[start..];
        match right_at {
            Some((offset, _)) => {
                let n = r.len().min(row.len().saturating_sub(offset));
                row[offset..offset + n].clone_from_slice(&r[..n]);
            }
            None => {
                for &(s, len) in &join.right_columns {
                    row[s..s + len].clone_from_slice(&r[s..s + len]);
                }
            }
        }
        let row = &self.block.values()[start..];
        let mut passes = true;
        for ((lk, rk), check) in join.keys.iter().zip(checked) {
            if *check {
                let (a, b) = (lk.eval(row, params)?, rk.eval(row, params)?);
                if a.is_null() || b.is_null() || a != b {
                    passes = false;
                    break;
                }
            }
        }
        if passes {
            if let Some(c) = &join.residual {
                passes = c.eval_predicate(row, params)?;
            }
        }
        Ok(passes)
    }

    /// Hands on the rows still held.
    fn finish(mut self) -> Result<()> {
        if !self.block.is_empty() {
            (self.emit)(&mut self.block)?;
        }
        Ok(())
    }
}

/// Where a join's right rows sit when they are kept as narrow as their
/// one FROM item (see [`narrow_right`]): the item's offset in the joined
/// row, and the joined row's width. `None`: they are as wide as the
/// joined row already.
pub type RightAt = Option<(usize, usize)>;

/// Whether `join`'s right side is one FROM item, whose rows can then stay
/// as narrow as the item until joined (they are most of what a join
/// holds): its place, for [`join_into`] and [`merge_into`].
pub fn narrow_right(join: &Join) -> RightAt {
    match (&join.right, join.right_columns.as_slice()) {
        (Source::Query { offset, width, .. }, [(start, _)]) if start == offset => {
            Some((*offset, *width))
        }
        _ => None,
    }
}

/// The rows of `join` over its inputs' rows, each handed to `emit` as it
/// is made (so a consumer that aggregates never holds them all); the
/// right rows are placed as `right_at` says.
pub fn join_into(
    join: &Join,
    left: Rows,
    right: Rows,
    right_at: RightAt,
    params: &Params,
    emit: &mut dyn FnMut(&mut Rows) -> Result<()>,
) -> Result<()> {
    if join.kind.filters_left() {
        return semi_join_into(join, left, right, right_at, params, emit);
    }
    let mut out = JoinOut::new(emit);
    let right_keys = right_keys(join, right_at);
    let mut right_matched = vec![false; right.len()];
    let keep_left = join.kind.keeps_left();
    let pair = |l: &[Value], r: &[Value], out: &mut JoinOut| -> Result<bool> {
        out.joined(join, l, r, right_at, &[], params)
    };
    let mut unmatched_left = Vec::new();
    let left_keys: Vec<Expr> = join.keys.iter().map(|(k, _)| k.clone()).collect();
    if join.keys.is_empty() {
        for (li, l) in left.iter().enumerate() {
            let mut matched = false;
            for (i, r) in right.iter().enumerate() {
                if pair(l, r, &mut out)? {
                    matched = true;
                    right_matched[i] = true;
                }
            }
            if keep_left && !matched {
                unmatched_left.push(li);
            }
        }
    } else if left.len() < right.len() {
        // Build on the smaller side: here the left, probed by the right.
        let table = KeyTable::build(&left, &left_keys, params)?;
        let mut left_matched = vec![false; left.len()];
        table.probe(&right, &right_keys, params, |r, candidates| {
            for i in candidates {
                if pair(&left[i], &right[r], &mut out)? {
                    left_matched[i] = true;
                    right_matched[r] = true;
                }
            }
            Ok(())
        })?;
        if keep_left {
            unmatched_left.extend(
                left_matched
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| !**m)
                    .map(|(i, _)| i),
            );
        }
    } else {
        // Build on the right, probe with the left; a NULL key matches nothing.
        let table = KeyTable::build(&right, &right_keys, params)?;
        table.probe(&left, &left_keys, params, |li, candidates| {
            let mut matched = false;
            for i in candidates {
                if pair(&left[li], &right[i], &mut out)? {
                    matched = true;
                    right_matched[i] = true;
                }
            }
            if keep_left && !matched {
                unmatched_left.push(li);
            }
            Ok(())
        })?;
    }
    let mut left = left;
    for li in unmatched_left {
        out.row(left.take(li))?;
    }
    if join.kind.keeps_right() {
        let mut right = right;
        for (r, matched) in right_matched.into_iter().enumerate() {
            if !matched {
                out.widened(right.take(r), right_at)?;
            }
        }
    }
    out.finish()
}

/// The join's right key expressions over its right rows placed as
/// `right_at` says.
fn right_keys(join: &Join, right_at: RightAt) -> Vec<Expr> {
    join.keys
        .iter()
        .map(|(_, k)| match right_at {
            Some((offset, _)) => k.rebased(offset),
            None => k.clone(),
        })
        .collect()
}

/// A semi join's left rows that have a matching right row, or an anti
/// join's that have none, in their order: the right rows by key in a
/// hash table (a nested loop without equalities), each left row's
/// candidates tried until one passes the residual condition. A NULL key
/// matches nothing, so its row is an anti join's.
fn semi_join_into(
    join: &Join,
    mut left: Rows,
    right: Rows,
    right_at: RightAt,
    params: &Params,
    emit: &mut dyn FnMut(&mut Rows) -> Result<()>,
) -> Result<()> {
    let mut out = JoinOut::new(emit);
    let wanted = join.kind == JoinKind::Semi;
    let mut keep = vec![false; left.len()];
    // Left row `li` against its candidate right rows.
    let mut decide = |li: usize, candidates: &mut dyn Iterator<Item = usize>| -> Result<()> {
        let mut found = false;
        for i in candidates {
            if out.matches(join, &left[li], &right[i], right_at, params)? {
                found = true;
                break;
            }
        }
        keep[li] = found == wanted;
        Ok(())
    };
    if join.keys.is_empty() {
        for li in 0..left.len() {
            decide(li, &mut (0..right.len()))?;
        }
    } else {
        let right_keys = right_keys(join, right_at);
        let left_keys: Vec<Expr> = join.keys.iter().map(|(k, _)| k.clone()).collect();
        let table = KeyTable::build(&right, &right_keys, params)?;
        table.probe(&left, &left_keys, params, decide)?;
    }
    for (li, keep) in keep.into_iter().enumerate() {
        if keep {
            out.row(left.take(li))?;
        }
    }
    out.finish()
}

/// The rows of `join` by merging its sides (see [`MergePath`]), each
/// handed to `emit` as it is made.
pub fn merge_into(
    join: &Join,
    path: &MergePath,
    mut left: Rows,
    mut right: Rows,
    right_at: RightAt,
    params: &Params,
    emit: &mut dyn FnMut(&mut Rows) -> Result<()>,
) -> Result<()> {
    let mut out = JoinOut::new(emit);
    use std::cmp::Ordering;
    let rebased;
    let path = match right_at {
        Some((offset, _)) => {
            rebased = MergePath {
                keys: path.keys.iter().map(|&(l, r)| (l, r - offset)).collect(),
                merged: path.merged.clone(),
            };
            &rebased
        }
        None => path,
    };
    // Each side is its shards' runs, each in key order already, which the
    // (adaptive) sort only merges.
    left.sort_by(|a, b| path.compare_side(a, b, true));
    right.sort_by(|a, b| path.compare_side(a, b, false));
    let keep_left = join.kind.keeps_left();
    let keep_right = join.kind.keeps_right();
    let unchecked: Vec<bool> = path.merged.iter().map(|m| !m).collect();
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        let order = match path.has_null(&left[i], true) {
            true => Ordering::Less,
            false => path.compare(&left[i], &right[j]),
        };
        match order {
            Ordering::Less => {
                if keep_left {
                    out.row(left.take(i))?;
                }
                i += 1;
            }
            Ordering::Greater => {
                if keep_right {
                    out.widened(right.take(j), right_at)?;
                }
                j += 1;
            }
            Ordering::Equal => {
                let i_end = (i + 1..left.len())
                    .find(|&k| !path.compare_side(&left[k], &left[i], true).is_eq())
                    .unwrap_or(left.len());
                let j_end = (j + 1..right.len())
                    .find(|&k| !path.compare_side(&right[k], &right[j], false).is_eq())
                    .unwrap_or(right.len());
                let mut right_matched = vec![false; j_end - j];
                for a in i..i_end {
                    let mut matched = false;
                    for (b, r_matched) in (j..j_end).zip(&mut right_matched) {
                        if out.joined(join, &left[a], &right[b], right_at, &unchecked, params)? {
                            matched = true;
                            *r_matched = true;
                        }
                    }
                    if keep_left && !matched {
                        out.row(left.take(a))?;
                    }
                }
                if keep_right {
                    for (b, matched) in (j..j_end).zip(right_matched) {
                        if !matched {
                            out.widened(right.take(b), right_at)?;
                        }
                    }
                }
                (i, j) = (i_end, j_end);
            }
        }
    }
    if keep_left {
        for a in i..left.len() {
            out.row(left.take(a))?;
        }
    }
    if keep_right {
        for b in j..right.len() {
            out.widened(right.take(b), right_at)?;
        }
    }
    out.finish()
}

/// A hash join's table: one side's rows by the values of their join
/// keys, read in place when copying them would allocate. The keys are evaluated a
/// batch at a time; rows with equal keys are chained in their order, and
/// a row with a NULL key is left out (it matches nothing).
struct KeyTable<'r> {
    rows: &'r Rows,
    /// Per distinct key: its first and last row.
    heads: hashbrown::HashTable<(u32, u32)>,
    /// Per row: the next row with its key (`NO_ROW` at the end).
    next: Vec<u32>,
    hashes: Vec<u64>,
    /// Where each row's key values are: its own columns when every key
    /// is a column and some key's values live on the heap, else the keys
    /// computed (or copied), `width` per row.
    columns: Option<Vec<usize>>,
    computed: Vec<Value>,
    width: usize,
}

const NO_ROW: u32 = u32::MAX;

/// Whether a copy of `v` allocates.
fn holds_heap(v: &Value) -> bool {
    matches!(
        v,
        Value::Text(_)
            | Value::BpChar(_)
            | Value::Json(_)
            | Value::Jsonb(_)
            | Value::Bytea(_)
            | Value::Array(_)
    )
}

impl<'r> KeyTable<'r> {
    fn build(rows: &'r Rows, keys: &[Expr], params: &Params) -> Result<KeyTable<'r>> {
        if rows.len() >= NO_ROW as usize {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                "a hash join side has more rows than this version holds",
            ));
        }
        let columns: Option<Vec<usize>> = keys
            .iter()
            .map(|k| match k {
                Expr::Column(c) => Some(*c),
                _ => None,
            })
            .collect();
        // Keys that copy without allocating (numbers, dates) are copied
        // side by side, so that comparing a probe's key with a row's does
        // not wait for the row to come from memory.
        let columns = columns.filter(|columns| {
            let sample = rows.iter().find(|r| {
                columns
                    .iter()
                    .all(|&c| r.get(c).is_some_and(|v| !v.is_null()))
            });
            sample.is_some_and(|r| columns.iter().any(|&c| holds_heap(&r[c])))
        });
        let mut table = KeyTable {
            rows,
            heads: hashbrown::HashTable::with_capacity(rows.len().min(1 << 20)),
            next: vec![NO_ROW; rows.len()],
            hashes: vec![0; rows.len()],
            computed: Vec::new(),
            width: keys.len(),
            columns,
        };
        for (b, refs) in rows.batches(BATCH_ROWS).enumerate() {
            let ev = BatchEval::new(&refs, params);
            let sel = all_rows(refs.len());
            let mut vectors = keys
                .iter()
                .map(|k| ev.eval(k, &sel))
                .collect::<Result<Vec<_>>>()?;
            for i in 0..refs.len() {
                let row = (b * BATCH_ROWS + i) as u32;
                if vectors.iter().any(|v| v.get(&refs, i).is_null()) {
                    if table.columns.is_none() {
                        table
                            .computed
                            .extend(std::iter::repeat_with(|| Value::Null).take(keys.len()));
                    }
                    continue;
                }
                let hash = hash_key(vectors.iter().map(|v| v.get(&refs, i)));
                if table.columns.is_none() {
                    for v in vectors.iter_mut() {
                        table.computed.push(v.take(&refs, i));
                    }
                }
                table.insert(row, hash);
            }
            memory::check()?;
        }
        Ok(table)
    }

    /// The key values of row `row`.
    fn key(&self, row: u32) -> &[Value] {
        let row = row as usize;
        match &self.columns {
            Some(_) => &self.rows[row],
            None => &self.computed[row * self.width..(row + 1) * self.width],
        }
    }

    fn key_value<'k>(&self, key: &'k [Value], k: usize) -> &'k Value {
        match &self.columns {
            Some(columns) => &key[columns[k]],
            None => &key[k],
        }
    }

    fn same_key(&self, a: u32, b: &[&Value]) -> bool {
        let key = self.key(a);
        b.iter()
            .enumerate()
            .all(|(k, v)| self.key_value(key, k).compare(v) == std::cmp::Ordering::Equal)
    }

    fn same_rows(&self, a: u32, b: u32) -> bool {
        let (ka, kb) = (self.key(a), self.key(b));
        (0..self.width).all(|k| {
            self.key_value(ka, k).compare(self.key_value(kb, k)) == std::cmp::Ordering::Equal
        })
    }

    /// Adds `row` (its key computed) at the end of its key's chain.
    fn insert(&mut self, row: u32, hash: u64) {
        self.hashes[row as usize] = hash;
        let found = self
            .heads
            .find(hash, |&(head, _)| self.same_rows(head, row))
            .copied();
        let hashes = &self.hashes;
        match found {
            Some((head, tail)) => {
                self.next[tail as usize] = row;
                if let Ok(entry) = self.heads.find_entry(hash, |&(h, _)| h == head) {
                    *entry.into_mut() = (head, row);
                }
            }
            None => {
                self.heads
                    .insert_unique(hash, (row, row), |&(h, _)| hashes[h as usize]);
            }
        }
    }

    /// Looks up the keys of `probe`'s rows a batch at a time, handing
    /// each row with a non-NULL key its matching rows here, in order
    /// (none when nothing matches).
    fn probe(
        &self,
        probe: &Rows,
        keys: &[Expr],
        params: &Params,
        mut found: impl FnMut(usize, &mut dyn Iterator<Item = usize>) -> Result<()>,
    ) -> Result<()> {
        for (b, refs) in probe.batches(BATCH_ROWS).enumerate() {
            let mut values: Vec<&Value> = Vec::with_capacity(keys.len());
            let ev = BatchEval::new(&refs, params);
            let sel = all_rows(refs.len());
            let vectors = keys
                .iter()
                .map(|k| ev.eval(k, &sel))
                .collect::<Result<Vec<_>>>()?;
            for i in 0..refs.len() {
                values.clear();
                values.extend(vectors.iter().map(|v| v.get(&refs, i)));
                let head = if values.iter().any(|v| v.is_null()) {
                    None
                } else {
                    let hash = hash_key(values.iter().copied());
                    self.heads
                        .find(hash, |&(head, _)| self.same_key(head, &values))
                        .map(|&(head, _)| head)
                };
                let mut chain = Chain {
                    next: &self.next,
                    at: head.unwrap_or(NO_ROW),
                };
                found(b * BATCH_ROWS + i, &mut chain)?;
            }
        }
        Ok(())
    }
}

/// The rows with one key, following [`KeyTable::next`].
struct Chain<'a> {
    next: &'a [u32],
    at: u32,
}

impl Iterator for Chain<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.at == NO_ROW {
            return None;
        }
        let row = self.at as usize;
        self.at = self.next[row];
        Some(row)
    }
}

/// The rows of a set operation over its inputs' rows. Without ALL the
/// result has no duplicates; with it, INTERSECT ALL keeps a row as often
/// as both sides have it and EXCEPT ALL as often as the left has it more.
/// Rows come in the order the left input first gives them; rows are
/// equal as GROUP BY finds them (NULLs equal).
pub fn set_rows(op: &SetOp, left: Rows, right: Rows, params: &Params) -> Result<Rows> {
    let mut left = cast_rows(left, &op.casts[0], params)?;
    let mut right = cast_rows(right, &op.casts[1], params)?;
    if op.kind == SetOpKind::Union && op.all {
        left.append(&mut right);
        return Ok(left);
    }
    let mut out = Rows::default();
    if op.kind == SetOpKind::Union {
        let mut seen = GroupIndex::default();
        for mut rows in [left, right] {
            for i in 0..rows.len() {
                memory::check_every(i + 1, MEMORY_CHECK_ROWS)?;
                if seen.find_or_insert(rows[i].iter()).1 {
                    out.push(rows.take(i));
                }
            }
        }
        return Ok(out);
    }
    // How many of each row the right side has.
    let mut right_rows = GroupIndex::default();
    let mut counts: Vec<usize> = Vec::new();
    for r in right.iter() {
        let (g, new) = right_rows.find_or_insert(r.iter());
        if new {
            counts.push(0);
        }
        counts[g] += 1;
    }
    let mut seen = GroupIndex::default();
    for i in 0..left.len() {
        memory::check_every(i + 1, MEMORY_CHECK_ROWS)?;
        let count = right_rows
            .find(left[i].iter())
            .map(|g| &mut counts[g])
            .filter(|n| **n > 0);
        let keep = match (op.kind, count) {
            // Without ALL, one copy: none is left for a later duplicate.
            (SetOpKind::Intersect, Some(n)) => {
                *n = if op.all { *n - 1 } else { 0 };
                true
            }
            (SetOpKind::Intersect, None) => false,
            (_, Some(n)) => {
                if op.all {
                    *n -= 1;
                }
                false
            }
            (_, None) => op.all || seen.find_or_insert(left[i].iter()).1,
        };
        if keep {
            out.push(left.take(i));
        }
    }
    Ok(out)
}

/// Rows with column `i` cast to `casts[i]` where it is set.
fn cast_rows(
    mut rows: Rows,
    casts: &[Option<tessera_types::DataType>],
    params: &Params,
) -> Result<Rows> {
    if casts.iter().all(Option::is_none) {
        return Ok(rows);
    }
    for i in 0..rows.len() {
        for (v, c) in rows.row_mut(i).iter_mut().zip(casts) {
            if c.is_some() {
                *v = crate::expr::cast_to(std::mem::take(v), *c, &params.time)?;
            }
        }
    }
    Ok(rows)
}

/// The rows of VALUES.
pub fn values_rows(rows: &[Vec<Expr>], params: &Params) -> Result<Rows> {
    let mut out = Rows::with_capacity(rows.first().map_or(0, Vec::len), rows.len());
    for r in rows {
        let start = out.values().len();
        for e in r {
            let v = e.eval(&[], params)?;
            out.values_mut().push(v);
        }
        out.commit(start);
    }
    Ok(out)
}

/// The rounds of a recursive WITH query: the rows so far, and (without
/// ALL) the rows seen, so that a round adds only new ones.
pub struct Rounds {
    rows: Rows,
    seen: Option<GroupIndex>,
}

impl Rounds {
    /// Starts from the rows of the non-recursive term; also returns the
    /// first work table.
    pub fn start(r: &Recursive, start: Rows) -> Result<(Rounds, Rows)> {
        let mut rounds = Rounds {
            rows: Rows::default(),
            seen: (!r.all).then(Default::default),
        };
        let work = rounds.keep(start)?;
        Ok((rounds, work))
    }

    /// Takes a round's rows (cast to the query's types); returns the next
    /// work table, empty once the round added nothing.
    pub fn add(&mut self, r: &Recursive, round: Rows, params: &Params) -> Result<Rows> {
        self.keep(cast_rows(round, &r.casts, params)?)
    }

    fn keep(&mut self, mut rows: Rows) -> Result<Rows> {
        if let Some(seen) = &mut self.seen {
            rows.retain(|r| seen.find_or_insert(r.iter()).1);
        }
        memory::check()?;
        if self.rows.values().len() + rows.values().len() > RECURSIVE_VALUES_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "a recursive query produced more than {RECURSIVE_VALUES_MAX} values, more than this version holds on one node"
                ),
            )
            .with_hint("Check that the recursion ends (a condition in its recursive term)."));
        }
        for r in rows.iter() {
            self.rows.push_slice(r);
        }
        Ok(rows)
    }

    pub fn finish(self) -> Rows {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::BinaryOp;
    use crate::plan::Row;

    /// A join of rows three wide: the left item's key and tag at 0 and 1,
    /// the right item's key at 2.
    fn join(kind: JoinKind, residual: Option<Expr>) -> Join {
        Join {
            kind,
            left: Source::Values(vec![]),
            right: Source::Values(vec![]),
            right_columns: vec![(2, 1)],
            keys: vec![(Expr::Column(0), Expr::Column(2))],
            residual,
        }
    }

    fn left_row(k: Option<i32>, tag: &str) -> Row {
        let k = k.map_or(Value::Null, Value::Int4);
        vec![k, Value::Text(tag.into()), Value::Null]
    }

    fn right_row(k: Option<i32>) -> Row {
        vec![Value::Null, Value::Null, k.map_or(Value::Null, Value::Int4)]
    }

    /// What a nested loop over every pair gives, unmatched rows as the
    /// kind keeps them.
    fn by_pairs(j: &Join, left: &[Row], right: &[Row]) -> Vec<Row> {
        let params = Params::default();
        let mut out = Vec::new();
        let mut right_matched = vec![false; right.len()];
        for l in left {
            let mut matched = false;
            for (i, r) in right.iter().enumerate() {
                let equal = !l[0].is_null() && !r[2].is_null() && l[0] == r[2];
                let mut row = l.clone();
                row[2] = r[2].clone();
                let passes = j
                    .residual
                    .as_ref()
                    .is_none_or(|c| c.eval_predicate(&row, &params).unwrap());
                if equal && passes {
                    out.push(row);
                    matched = true;
                    right_matched[i] = true;
                }
            }
            if !matched && matches!(j.kind, JoinKind::Left | JoinKind::Full) {
                out.push(l.clone());
            }
        }
        if matches!(j.kind, JoinKind::Right | JoinKind::Full) {
            for (r, m) in right.iter().zip(right_matched) {
                if !m {
                    out.push(r.clone());
                }
            }
        }
        out
    }

    fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
        rows.sort_by(|a, b| {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.compare(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        rows
    }

    #[test]
    fn hash_joins_match_every_pair_a_nested_loop_would() {
        // Duplicate keys on both sides, NULL keys, keys on one side only;
        // more than a block of rows, so blocks are handed on mid-join.
        let mut left: Vec<Row> = (0..1500)
            .map(|i| left_row(Some(i % 700), &format!("l{i}")))
            .collect();
        left.push(left_row(None, "null"));
        let mut right: Vec<Row> = (300..2000).map(|i| right_row(Some(i % 900))).collect();
        right.push(right_row(None));
        let odd_tag = Expr::Binary {
            op: BinaryOp::NotEq,
            left: Box::new(Expr::Column(1)),
            right: Box::new(Expr::Literal(Value::Text("l301".into()))),
        };
        for kind in [
            JoinKind::Inner,
            JoinKind::Left,
            JoinKind::Right,
            JoinKind::Full,
        ] {
            for residual in [None, Some(odd_tag.clone())] {
                let j = join(kind, residual);
                // Both build sides of an inner join: the smaller left, then the right.
                for (l, r) in [(&left[..200], &right[..]), (&left[..], &right[..])] {
                    let (lr, rr) = (Rows::from_vecs(l.to_vec()), Rows::from_vecs(r.to_vec()));
                    let got = join_rows(&j, lr, rr, &Params::default())
                        .unwrap()
                        .into_vecs();
                    assert_eq!(sorted(got), sorted(by_pairs(&j, l, r)), "{kind:?}");
                }
            }
        }
    }

    #[test]
    fn a_block_of_rows_without_columns_still_counts_them() {
        let mut out = Rows::default();
        let mut emit = |b: &mut Rows| {
            assert_eq!(b.iter().count(), b.len());
            out.append(b);
            Ok(())
        };
        let mut block = JoinOut::new(&mut emit);
        for _ in 0..BATCH_ROWS + 5 {
            block.row(std::iter::empty()).unwrap();
        }
        block.finish().unwrap();
        assert_eq!(out.len(), BATCH_ROWS + 5);
    }
}
