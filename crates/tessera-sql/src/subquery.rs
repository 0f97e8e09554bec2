//! Correlated subqueries, run where the expression holding them is
//! evaluated, once for each row.
//!
//! A correlated subquery reads values of the row it is evaluated for
//! ([`Expr::Outer`](crate::expr::Expr::Outer)), so it cannot run once
//! ahead of the statement the way an uncorrelated one does. What it reads
//! from tables does not depend on that row, though: the binder makes each
//! of its stored FROM items an init plan, whose rows the router gathers
//! once at the statement's snapshot (conditions that do not read the
//! outer row pushed down to the shards). Evaluating the subquery for a row
//! is then local, synchronous work over those rows: joins, the filter
//! with the outer values, aggregation, ORDER BY and LIMIT. It runs on the
//! router or on a shard alike, since everything it needs travels in
//! [`Params`].

use std::borrow::Cow;
use std::ops::ControlFlow;

use tessera_types::{memory, sqlstate, DataType, Error, Result, Value};

use crate::batch::BATCH_ROWS;
use crate::expr::{binary_in, cast_to, BinaryOp, Expr, Params};
use crate::plan::{FragmentOutput, Join, JoinKind, Plan, Row, SelectPlan, Source};
use crate::rows::Rows;
use crate::shard::{series_values, Sink, SERIES_ROWS_MAX};

/// The rows of a correlated query, with `params.outer` holding the values
/// it reads from the enclosing row.
pub fn run_local(select: &SelectPlan, params: &Params) -> Result<Rows> {
    let fragment = &select.fragment;
    let mut sink = Sink::new(fragment);
    if let Some(Source::Probe { init, keys }) = &select.source {
        let (rows, found) = probe(params, *init, keys)?;
        let found: Vec<&[Value]> = found.iter().map(|&i| &rows[i][..]).collect();
        for batch in found.chunks(BATCH_ROWS) {
            sink.push_batch(batch, params)?;
        }
    } else if let Some(source) = &select.source {
        let rows = source_rows(source, params)?;
        for refs in rows.batches(BATCH_ROWS) {
            sink.push_batch(&refs, params)?;
        }
    } else if let Some(functions) = fragment
        .series
        .as_ref()
        .map(|s| &s.functions)
        .filter(|f| !f.is_empty())
    {
        for row in crate::srf::rows_from(functions, params)? {
            sink.push(&row, params)?;
        }
    } else if let Some(series) = &fragment.series {
        for (n, v) in series_values(series, params)?.enumerate() {
            if n >= SERIES_ROWS_MAX {
                return Err(Error::new(
                    sqlstate::PROGRAM_LIMIT_EXCEEDED,
                    format!(
                        "generate_series would return more than {SERIES_ROWS_MAX} rows to one query"
                    ),
                ));
            }
            sink.push(&[v], params)?;
        }
    } else if fragment.table.is_none() {
        sink.push(&[], params)?;
    } else {
        return Err(Error::internal(
            "a correlated query reads a table that was not gathered",
        ));
    }
    crate::router::finish_select(select, sink.finish(params)?, params)
}

/// Whether a correlated query over one gathered table returns a row, when
/// that is just whether a row its keys find passes its filter (no
/// aggregates, window or LIMIT/OFFSET deciding how many rows it returns):
/// checked row by row up to the first, as EXISTS needs. `None` for other
/// queries, which [`run_local`] runs.
pub fn exists(select: &SelectPlan, params: &Params) -> Result<Option<bool>> {
    let Some(Source::Probe { init, keys }) = &select.source else {
        return Ok(None);
    };
    let simple = select.aggregate.is_none()
        && select.window.is_none()
        && select.limit.is_none()
        && select.offset.is_none()
        && matches!(select.fragment.output, FragmentOutput::Project(_));
    if !simple {
        return Ok(None);
    }
    let (rows, found) = probe(params, *init, keys)?;
    let Some(filter) = &select.fragment.filter else {
        return Ok(Some(!found.is_empty()));
    };
    for &i in found {
        if filter.eval_predicate(&rows[i], params)? {
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

/// `left op ANY (query)`, or with `all` `left op ALL (query)`, for a
/// correlated query whose rows are those of one gathered table its keys
/// find and its filter passes, each projected to one value (no
/// aggregates, window, DISTINCT ON or LIMIT/OFFSET deciding which rows
/// it returns; DISTINCT and ORDER BY do not change the answer): the rows
/// its keys find are compared one by one up to the first that decides
/// (an `IN` stops at the first equal value), as a mark join marks an
/// outer row, without making the subquery's rows. SQL's NULL rules hold:
/// no row gives `all`, a NULL `left` (evaluated only when there are
/// rows) NULL, and a NULL comparison with none deciding NULL. `None`
/// for other queries, which [`run_local`] runs.
pub fn quantified(
    select: &SelectPlan,
    left: impl FnOnce() -> Result<Value>,
    (op, all, cast): (BinaryOp, bool, Option<DataType>),
    params: &Params,
) -> Result<Option<Value>> {
    let Some(Compared {
        init,
        keys,
        values: [value],
    }) = compared_values(select, 1)
    else {
        return Ok(None);
    };
    let (rows, found) = probe(params, init, keys)?;
    // IN without a filter of its own, over a value of the gathered row:
    // a mark join once comparing row by row has cost more than building
    // its indexes would.
    let markable = matches!(
        (op, all, &select.fragment.filter),
        (BinaryOp::Eq, false, None)
    ) && !value.uses_outer()
        && !found.is_empty();
    if markable && params.init_rows(init)?.worth_marking(found.len()) {
        return marked(init, keys, value, left, cast, params).map(Some);
    }
    let mut left = Some(left);
    let mut l = Value::Null;
    any_or_all(select, (rows, found), all, params, |row| {
        if let Some(left) = left.take() {
            l = left()?;
        }
        // NULL against any row: the answer is NULL.
        if l.is_null() {
            return Ok(ControlFlow::Break(Value::Null));
        }
        let v = cast_to(value.eval(row, params)?, cast, &params.time)?;
        let verdict = binary_in(op, l.clone(), v, &params.time.zone)?.as_bool();
        Ok(ControlFlow::Continue(verdict))
    })
    .map(Some)
}

/// What [`quantified`] and [`row_quantified`] compare with: the init
/// plan and keys a correlated query probes, and the values it projects
/// each row to.
struct Compared<'a> {
    init: usize,
    keys: &'a [(Expr, Expr)],
    values: &'a [Expr],
}

/// The query's [`Compared`], `width` values wide, when nothing but its
/// filter decides which rows it returns (no aggregates, window, DISTINCT
/// ON or LIMIT/OFFSET).
fn compared_values(select: &SelectPlan, width: usize) -> Option<Compared<'_>> {
    let Some(Source::Probe { init, keys }) = &select.source else {
        return None;
    };
    let FragmentOutput::Project(exprs) = &select.fragment.output else {
        return None;
    };
    let simple = select.aggregate.is_none()
        && select.window.is_none()
        && select.distinct_on.is_empty()
        && select.limit.is_none()
        && select.offset.is_none()
        && select.visible == width;
    simple.then_some(Compared {
        init: *init,
        keys,
        values: exprs.get(..width)?,
    })
}

/// ANY (`all` false) or ALL over the rows `found` of `rows` that the
/// query's filter passes: `compare` compares the left side with one
/// (TRUE, FALSE, or `None` for NULL), or ends the answer with a value of
/// its own. ANY is TRUE at the first TRUE, ALL FALSE at the first FALSE;
/// otherwise NULL if any comparison was, and `all` when no row passed.
fn any_or_all(
    select: &SelectPlan,
    (rows, found): (&Rows, &[usize]),
    all: bool,
    params: &Params,
    mut compare: impl FnMut(&[Value]) -> Result<ControlFlow<Value, Option<bool>>>,
) -> Result<Value> {
    let decisive = !all;
    let mut compared = false;
    let mut saw_null = false;
    for &i in found {
        let row = &rows[i];
        if let Some(filter) = &select.fragment.filter {
            if !filter.eval_predicate(row, params)? {
                continue;
            }
        }
        compared = true;
        match compare(row)? {
            ControlFlow::Break(v) => return Ok(v),
            ControlFlow::Continue(Some(b)) if b == decisive => return Ok(Value::Bool(decisive)),
            ControlFlow::Continue(Some(_)) => {}
            ControlFlow::Continue(None) => saw_null = true,
        }
    }
    Ok(match (compared, saw_null) {
        (false, _) => Value::Bool(all),
        (true, true) => Value::Null,
        (true, false) => Value::Bool(!decisive),
    })
}

/// [`quantified`] for a row: `(a, b) op ANY|ALL (query)` (IN is `= ANY`)
/// over the same correlated queries, the row of `left`'s values
/// compared with each row the keys find and the filter passes, projected
/// to its leading values (cast to `casts` where set), as rows compare
/// (see [`crate::row`]), up to the first that decides. `None` for other
/// queries, which [`run_local`] runs.
pub fn row_quantified(
    select: &SelectPlan,
    left: impl FnOnce() -> Result<Vec<Value>>,
    (op, all, casts): (BinaryOp, bool, &[Option<DataType>]),
    params: &Params,
) -> Result<Option<Value>> {
    let Some(Compared { init, keys, values }) = compared_values(select, casts.len()) else {
        return Ok(None);
    };
    let (rows, found) = probe(params, init, keys)?;
    let mut left = Some(left);
    let mut l = Vec::new();
    let mut r = Vec::with_capacity(casts.len());
    any_or_all(select, (rows, found), all, params, |row| {
        if let Some(left) = left.take() {
            l = left()?;
        }
        r.clear();
        for (e, cast) in values.iter().zip(casts) {
            r.push(cast_to(e.eval(row, params)?, *cast, &params.time)?);
        }
        let verdict = crate::row::compare(op, &l, &r, &params.time.zone)?.as_bool();
        Ok(ControlFlow::Continue(verdict))
    })
    .map(Some)
}

/// `left IN (query)` for [`quantified`]'s queries without a filter of
/// their own, whose value reads only the gathered row, when the rows the
/// keys find are not none: a mark join, each outer row answered by hash
/// lookups of its keys and value in indexes built once (see
/// [`crate::expr::InitRows::mark`]).
fn marked(
    init: usize,
    keys: &[(Expr, Expr)],
    value: &Expr,
    left: impl FnOnce() -> Result<Value>,
    cast: Option<DataType>,
    params: &Params,
) -> Result<Value> {
    let l = left()?;
    if l.is_null() {
        return Ok(Value::Null);
    }
    let mut values = Vec::with_capacity(keys.len() + 1);
    for (_, outer) in keys {
        values.push(outer.eval(&[], params)?);
    }
    let inner: Vec<&Expr> = keys.iter().map(|(i, _)| i).collect();
    let rows = params.init_rows(init)?;
    Ok(
        match rows.mark(&inner, (value, cast), &mut values, l, params)? {
            Some(b) => Value::Bool(b),
            None => Value::Null,
        },
    )
}

/// The rows of init plan `id` (a join's right side) whose values of the
/// join's right keys equal some left row's values of its left keys, each
/// once, in their order: all the join can pair.
fn matching_rows(join: &Join, left: &Rows, id: usize, params: &Params) -> Result<Rows> {
    let init = params.init_rows(id)?;
    let right_keys: Vec<&Expr> = join.keys.iter().map(|(_, r)| r).collect();
    let mut found: Vec<usize> = Vec::new();
    let mut values = Vec::with_capacity(join.keys.len());
    for row in left {
        values.clear();
        for (l, _) in &join.keys {
            values.push(l.eval(row, params)?);
        }
        if values.iter().any(Value::is_null) {
            continue;
        }
        found.extend_from_slice(init.probe(&right_keys, &values, params)?);
    }
    found.sort_unstable();
    found.dedup();
    memory::check()?;
    Ok(copies(&init.rows, &found))
}

/// The rows of a correlated query's FROM: gathered ones are borrowed.
fn source_rows<'p>(source: &Source, params: &'p Params) -> Result<Cow<'p, Rows>> {
    match source {
        Source::Probe { init, keys } => {
            let (rows, found) = probe(params, *init, keys)?;
            Ok(Cow::Owned(copies(rows, found)))
        }
        Source::Init(id) => Ok(Cow::Borrowed(&params.init_rows(*id)?.rows)),
        Source::Query {
            plan,
            offset,
            width,
        } => {
            let Plan::Select(select) = &**plan else {
                return Err(Error::internal("a FROM item that is not a query"));
            };
            let rows = run_local(select, params)?.place(*offset, *width);
            memory::check()?;
            Ok(Cow::Owned(rows))
        }
        Source::Join(join) if matches!(join.right, Source::Lateral { .. }) => {
            let left = source_rows(&join.left, params)?.into_owned();
            Ok(Cow::Owned(lateral_join(join, left, params)?))
        }
        Source::Lateral { .. } => Ok(Cow::Owned(lateral_alone(source, params)?)),
        Source::Join(join) => {
            let left = source_rows(&join.left, params)?.into_owned();
            let right = match (&join.right, join.kind) {
                // Gathered rows joined by key: only those the left rows'
                // keys find (the gathered table's index), not a copy of
                // the whole table for every evaluation.
                (Source::Init(id), JoinKind::Inner | JoinKind::Left) if !join.keys.is_empty() => {
                    matching_rows(join, &left, *id, params)?
                }
                _ => source_rows(&join.right, params)?.into_owned(),
            };
            Ok(Cow::Owned(crate::join::join_rows(
                join, left, right, params,
            )?))
        }
        Source::SetOp(op) => {
            let left = source_rows(&op.left, params)?.into_owned();
            let right = source_rows(&op.right, params)?.into_owned();
            Ok(Cow::Owned(crate::join::set_rows(op, left, right, params)?))
        }
        Source::Values(rows) => Ok(Cow::Owned(crate::join::values_rows(rows, params)?)),
        Source::Recursive(r) => {
            let start = source_rows(&r.start, params)?.into_owned();
            let (mut rounds, mut work) = crate::join::Rounds::start(r, start)?;
            while !work.is_empty() {
                let with_work = params.with_work(r.work, work);
                let round = source_rows(&r.step, &with_work)?.into_owned();
                work = rounds.add(r, round, params)?;
            }
            Ok(Cow::Owned(rounds.finish()))
        }
        Source::Work(n) => Ok(Cow::Borrowed(params.work_rows(*n)?)),
    }
}

impl crate::plan::JoinedRows {
    /// The first row joined to `row`, if any.
    pub fn first(&self, row: &[Value], params: &Params) -> Result<Option<Row>> {
        match &self.query {
            crate::expr::SubqueryRows::Init(id) => {
                Ok(params.init_rows(*id)?.rows.first().map(<[Value]>::to_vec))
            }
            crate::expr::SubqueryRows::PerRow(plan) => {
                let mut outer = Vec::with_capacity(self.args.len());
                for a in &self.args {
                    outer.push(a.eval(row, params)?);
                }
                let mut rows = run_local(plan, &params.with_outer(outer))?;
                Ok((!rows.is_empty()).then(|| rows.take_vec(0)))
            }
        }
    }
}

/// A join whose right side is LATERAL: for each left row, the right
/// side's rows with that row's values, joined to it.
pub fn lateral_join(join: &Join, mut left: Rows, params: &Params) -> Result<Rows> {
    let Source::Lateral {
        plan,
        args,
        offset,
        width,
    } = &join.right
    else {
        return Err(Error::internal("a lateral join without a LATERAL side"));
    };
    let mut out = Rows::default();
    for i in 0..left.len() {
        let mut outer = Vec::with_capacity(args.len());
        for a in args {
            outer.push(a.eval(&left[i], params)?);
        }
        let right = run_local(plan, &params.with_outer(outer))?.place(*offset, *width);
        let l = Rows::one(left.take_vec(i));
        out.append(&mut crate::join::join_rows(join, l, right, params)?);
        memory::check_every(i + 1, crate::join::MEMORY_CHECK_ROWS)?;
    }
    Ok(out)
}

/// A LATERAL item that reads no FROM item before it (only enclosing
/// queries' values): its rows, once.
pub fn lateral_alone(source: &Source, params: &Params) -> Result<Rows> {
    let Source::Lateral {
        plan,
        args,
        offset,
        width,
    } = source
    else {
        return Err(Error::internal("not a LATERAL item"));
    };
    let mut outer = Vec::with_capacity(args.len());
    for a in args {
        outer.push(a.eval(&[], params)?);
    }
    let rows = run_local(plan, &params.with_outer(outer))?.place(*offset, *width);
    memory::check()?;
    Ok(rows)
}

/// The rows of init plan `init` whose inner keys equal the outer ones
/// (evaluated with `params.outer`): all its rows, and the positions of
/// those.
pub fn probe<'p>(
    params: &'p Params,
    init: usize,
    keys: &[(Expr, Expr)],
) -> Result<(&'p Rows, &'p [usize])> {
    let rows = params.init_rows(init)?;
    let mut values = Vec::with_capacity(keys.len());
    for (_, outer) in keys {
        let v = outer.eval(&[], params)?;
        if v.is_null() {
            return Ok((&rows.rows, &[]));
        }
        values.push(v);
    }
    let inner: Vec<&Expr> = keys.iter().map(|(i, _)| i).collect();
    Ok((&rows.rows, rows.probe(&inner, &values, params)?))
}

/// Copies of rows `at` of `rows`, in that order.
pub(crate) fn copies(rows: &Rows, at: &[usize]) -> Rows {
    let mut out = Rows::with_capacity(rows.width(), at.len());
    for &i in at {
        out.push_slice(&rows[i]);
    }
    out
}
