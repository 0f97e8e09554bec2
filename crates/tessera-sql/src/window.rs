//! Window functions over the rows a query has after grouping.
//!
//! Each call sorts the rows' positions by its partition and order keys;
//! within a partition, rows with equal order keys are peers. Ranking
//! functions read positions and peer groups; `lag`/`lead` read other rows
//! of the partition; `first_value`, `last_value`, `nth_value` and the
//! aggregates read the call's frame (ROWS counts rows, GROUPS counts peer
//! groups, RANGE compares the order key's value). An aggregate whose
//! frame starts at the partition's start accumulates as the frame grows;
//! any other frame is aggregated afresh for each row.

use std::cmp::Ordering;

use tessera_types::{sqlstate, Error, Result, Value};

use crate::aggregate::AggState;
use crate::expr::{binary, BinaryOp, Params};
use crate::plan::{FrameBound, FrameUnits, WindowCall, WindowFunc, WindowStage};
use crate::router::sort_order;
use crate::rows::Rows;

/// The rows of the stage: each input row with every call's value
/// appended, then the stage's output expressions over that.
pub fn apply(stage: &WindowStage, mut rows: Rows, params: &Params) -> Result<Rows> {
    let mut values: Vec<Vec<Value>> = Vec::with_capacity(stage.calls.len());
    for call in &stage.calls {
        values.push(call_values(call, &rows, params)?);
    }
    let mut out = Rows::with_capacity(stage.output.len(), rows.len());
    let mut row = Vec::with_capacity(rows.width() + values.len());
    for i in 0..rows.len() {
        row.clear();
        row.extend(rows.take(i));
        for v in values.iter_mut() {
            row.push(std::mem::take(&mut v[i]));
        }
        let start = out.values().len();
        for e in &stage.output {
            let v = e.eval(&row, params)?;
            out.values_mut().push(v);
        }
        out.commit(start);
    }
    Ok(out)
}

/// Each row's values of `exprs`, side by side.
fn keys_of<'e>(
    rows: &Rows,
    exprs: impl Iterator<Item = &'e crate::expr::Expr> + Clone,
    params: &Params,
) -> Result<Rows> {
    let mut keys = Rows::with_capacity(exprs.clone().count(), rows.len());
    for row in rows {
        let start = keys.values().len();
        for e in exprs.clone() {
            let v = e.eval(row, params)?;
            keys.values_mut().push(v);
        }
        keys.commit(start);
    }
    Ok(keys)
}

/// One partition in sort order: positions into the rows, and the index
/// of each one's peer group with where each group starts.
struct Partition<'a> {
    rows: &'a [usize],
    group_of: Vec<usize>,
    group_start: Vec<usize>,
}

impl Partition<'_> {
    fn group_end(&self, g: usize) -> usize {
        self.group_start
            .get(g + 1)
            .copied()
            .unwrap_or(self.rows.len())
    }
}

fn call_values(call: &WindowCall, rows: &Rows, params: &Params) -> Result<Vec<Value>> {
    let n = rows.len();
    let part_keys = keys_of(rows, call.partition_by.iter(), params)?;
    let order_keys = keys_of(rows, call.order_by.iter().map(|(e, _, _)| e), params)?;
    let order_cmp = |a: usize, b: usize| {
        for (k, (_, desc, nulls_first)) in call.order_by.iter().enumerate() {
            let o = sort_order(&order_keys[a][k], &order_keys[b][k], *desc, *nulls_first);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    };
    let mut sorted: Vec<usize> = (0..n).collect();
    sorted.sort_by(|&a, &b| {
        part_keys[a]
            .iter()
            .zip(&part_keys[b])
            .map(|(x, y)| sort_order(x, y, false, false))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
            .then_with(|| order_cmp(a, b))
    });
    let mut out = vec![Value::Null; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && part_keys[sorted[end]] == part_keys[sorted[start]] {
            end += 1;
        }
        let rows_of = &sorted[start..end];
        let mut group_of = Vec::with_capacity(rows_of.len());
        let mut group_start = Vec::new();
        for i in 0..rows_of.len() {
            if i == 0 || order_cmp(rows_of[i - 1], rows_of[i]) != Ordering::Equal {
                group_start.push(i);
            }
            group_of.push(group_start.len() - 1);
        }
        let part = Partition {
            rows: rows_of,
            group_of,
            group_start,
        };
        partition_values(call, &part, rows, &order_keys, params, &mut out)?;
        start = end;
    }
    Ok(out)
}

fn partition_values(
    call: &WindowCall,
    part: &Partition,
    rows: &Rows,
    order_keys: &Rows,
    params: &Params,
    out: &mut [Value],
) -> Result<()> {
    let len = part.rows.len();
    let arg = |i: usize, k: usize| -> Result<Value> {
        match call.args.get(k) {
            Some(e) => e.eval(&rows[part.rows[i]], params),
            None => Ok(Value::Null),
        }
    };
    let int_arg = |i: usize, k: usize| -> Result<Option<i64>> { Ok(arg(i, k)?.as_i64()) };
    for i in 0..len {
        let g = part.group_of[i];
        let v = match &call.func {
            WindowFunc::RowNumber => Value::Int8(i as i64 + 1),
            WindowFunc::Rank => Value::Int8(part.group_start[g] as i64 + 1),
            WindowFunc::DenseRank => Value::Int8(g as i64 + 1),
            WindowFunc::PercentRank => Value::Float8(if len > 1 {
                part.group_start[g] as f64 / (len - 1) as f64
            } else {
                0.0
            }),
            WindowFunc::CumeDist => Value::Float8(part.group_end(g) as f64 / len as f64),
            WindowFunc::Ntile => match int_arg(0, 0)? {
                None => Value::Null,
                Some(b) if b <= 0 => {
                    return Err(Error::new(
                        sqlstate::INVALID_ARGUMENT_FOR_NTILE,
                        "argument of ntile must be greater than zero",
                    ))
                }
                Some(b) => Value::Int4(ntile(i, len, b as usize) as i32),
            },
            WindowFunc::Lag | WindowFunc::Lead => {
                let offset = match call.args.len() {
                    1 => Some(1),
                    _ => int_arg(i, 1)?,
                };
                match offset {
                    None => Value::Null,
                    Some(o) => {
                        let at = if call.func == WindowFunc::Lag {
                            i as i64 - o
                        } else {
                            i as i64 + o
                        };
                        if at >= 0 && (at as usize) < len {
                            arg(at as usize, 0)?
                        } else {
                            arg(i, 2)?
                        }
                    }
                }
            }
            WindowFunc::FirstValue | WindowFunc::LastValue | WindowFunc::NthValue => {
                let (lo, hi) = frame(call, part, i, order_keys, params)?;
                let at = match call.func {
                    WindowFunc::FirstValue => (lo < hi).then_some(lo),
                    WindowFunc::LastValue => (lo < hi).then(|| hi - 1),
                    _ => match int_arg(i, 1)? {
                        None => None,
                        Some(k) if k <= 0 => {
                            return Err(Error::new(
                                sqlstate::INVALID_ARGUMENT_FOR_NTH_VALUE,
                                "argument of nth_value must be greater than zero",
                            ))
                        }
                        Some(k) => Some(lo + k as usize - 1).filter(|at| *at < hi),
                    },
                };
                match at {
                    Some(at) => arg(at, 0)?,
                    None => Value::Null,
                }
            }
            WindowFunc::Aggregate(agg) => {
                return aggregate_values(call, agg, part, rows, order_keys, params, out);
            }
        };
        out[part.rows[i]] = v;
    }
    Ok(())
}

/// The 1-based bucket of position `i` of `len` rows split into `buckets`
/// as evenly as possible, the first ones one larger (PostgreSQL's way).
fn ntile(i: usize, len: usize, buckets: usize) -> usize {
    let per = len / buckets;
    let extra = len % buckets;
    let big = extra * (per + 1);
    if i < big {
        i / (per + 1) + 1
    } else {
        extra + (i - big) / per.max(1) + 1
    }
}

fn aggregate_values(
    call: &WindowCall,
    agg: &crate::plan::AggCall,
    part: &Partition,
    rows: &Rows,
    order_keys: &Rows,
    params: &Params,
    out: &mut [Value],
) -> Result<()> {
    let feed = |state: &mut AggState, at: usize| state.feed(agg, &rows[part.rows[at]], params);
    let running = call.frame.start == FrameBound::UnboundedPreceding;
    let mut state = AggState::new(agg);
    let mut fed = 0;
    for i in 0..part.rows.len() {
        let (lo, hi) = frame(call, part, i, order_keys, params)?;
        let value = if running {
            // The frame only grows: feed what it gained.
            while fed < hi {
                feed(&mut state, fed)?;
                fed += 1;
            }
            state.clone().finish(agg, params)?
        } else {
            let mut s = AggState::new(agg);
            for at in lo..hi {
                feed(&mut s, at)?;
            }
            s.finish(agg, params)?
        };
        out[part.rows[i]] = value;
    }
    Ok(())
}

/// The frame of position `i`: partition positions `lo..hi`.
fn frame(
    call: &WindowCall,
    part: &Partition,
    i: usize,
    order_keys: &Rows,
    params: &Params,
) -> Result<(usize, usize)> {
    let f = &call.frame;
    let descending = call.order_by.first().is_some_and(|(_, d, _)| *d);
    let len = part.rows.len();
    let g = part.group_of[i];
    let groups = part.group_start.len();
    let offset = |e: &crate::expr::Expr, which: &str| -> Result<Value> {
        let v = e.eval(&[], params)?;
        if v.is_null() {
            return Err(Error::new(
                sqlstate::NULL_VALUE_NOT_ALLOWED,
                format!("frame {which} offset must not be null"),
            ));
        }
        if v.compare(&Value::Int8(0)) == Ordering::Less && v.as_i64().is_some() {
            return Err(Error::new(
                sqlstate::INVALID_PRECEDING_OR_FOLLOWING_SIZE,
                format!("frame {which} offset must not be negative"),
            ));
        }
        Ok(v)
    };
    let count = |e: &crate::expr::Expr, which: &str| -> Result<usize> {
        Ok(offset(e, which)?.as_i64().unwrap_or(0).max(0) as usize)
    };
    // Where the frame starts (inclusive) and ends (exclusive).
    let bound = |b: &FrameBound, is_start: bool| -> Result<usize> {
        let which = if is_start { "starting" } else { "ending" };
        Ok(match (b, f.units) {
            (FrameBound::UnboundedPreceding, _) => 0,
            (FrameBound::UnboundedFollowing, _) => len,
            (FrameBound::CurrentRow, FrameUnits::Rows) => i + usize::from(!is_start),
            (FrameBound::CurrentRow, _) => {
                if is_start {
                    part.group_start[g]
                } else {
                    part.group_end(g)
                }
            }
            (FrameBound::Preceding(e), FrameUnits::Rows) => {
                let back = count(e, which)?;
                (i + usize::from(!is_start)).saturating_sub(back)
            }
            (FrameBound::Following(e), FrameUnits::Rows) => {
                (i + count(e, which)? + usize::from(!is_start)).min(len)
            }
            (FrameBound::Preceding(e), FrameUnits::Groups) => {
                let target = g.checked_sub(count(e, which)?);
                match (target, is_start) {
                    (None, true) => 0,
                    (None, false) => 0,
                    (Some(t), true) => part.group_start[t],
                    (Some(t), false) => part.group_end(t),
                }
            }
            (FrameBound::Following(e), FrameUnits::Groups) => {
                let t = g + count(e, which)?;
                match (t < groups, is_start) {
                    (false, _) => len,
                    (true, true) => part.group_start[t],
                    (true, false) => part.group_end(t),
                }
            }
            (FrameBound::Preceding(e) | FrameBound::Following(e), FrameUnits::Range) => {
                let offset = offset(e, which)?;
                range_bound(part, i, order_keys, descending, offset, b, is_start)?
            }
        })
    };
    let lo = bound(&f.start, true)?;
    let hi = bound(&f.end, false)?;
    Ok((lo, hi.max(lo)))
}

/// RANGE with an offset: the rows whose order key is within `offset` of
/// the current row's (one ORDER BY column; NULL keys are peers only of
/// each other).
fn range_bound(
    part: &Partition,
    i: usize,
    order_keys: &Rows,
    descending: bool,
    offset: Value,
    b: &FrameBound,
    is_start: bool,
) -> Result<usize> {
    let key = |at: usize| &order_keys[part.rows[at]][0];
    let g = part.group_of[i];
    let cur = key(i);
    if cur.is_null() {
        return Ok(if is_start {
            part.group_start[g]
        } else {
            part.group_end(g)
        });
    }
    // The key value the bound is at: preceding means smaller in an
    // ascending sort.
    let preceding = matches!(b, FrameBound::Preceding(_));
    let op = if preceding != descending {
        BinaryOp::Sub
    } else {
        BinaryOp::Add
    };
    let limit = binary(op, cur.clone(), offset)?;
    let len = part.rows.len();
    // Positions are sorted by key (NULLs at one end): find the first one
    // past the bound.
    // `date ± interval` is a timestamp: keys compare as the bound's type.
    let as_limit = |k: &Value| -> Value {
        if k.data_type() == limit.data_type() {
            return k.clone();
        }
        k.clone()
            .cast(limit.data_type(), true)
            .unwrap_or_else(|_| k.clone())
    };
    let within = |at: usize| -> bool {
        let k = key(at);
        if k.is_null() {
            return false;
        }
        let o = as_limit(k).compare(&limit);
        let o = if descending { o.reverse() } else { o };
        if is_start {
            o != Ordering::Less
        } else {
            o != Ordering::Greater
        }
    };
    Ok(if is_start {
        (0..len).find(|&at| within(at)).unwrap_or(len)
    } else {
        (0..len).rev().find(|&at| within(at)).map_or(0, |at| at + 1)
    })
}
