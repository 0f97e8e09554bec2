//! Joins of rows gathered to the router: a hash join on the condition's
//! equalities when it has any, a nested loop otherwise; outer joins keep
//! unmatched rows, whose other side stays NULL. Rows are as wide as the
//! whole FROM (see [`crate::plan::Source`]). Also the other ways rows of
//! two inputs combine: UNION, INTERSECT and EXCEPT, and the rows of VALUES.

use std::collections::HashMap;

use tessera_types::{sqlstate, Error, Result, Value};

use crate::expr::{Expr, Params};
use crate::plan::{Join, JoinKind, Recursive, Row, SetOp, SetOpKind};

/// The most values a join may hold on the router. Past it the statement
/// fails instead of exhausting the node's memory; gathering is how this
/// version runs joins, and streaming execution will lift the limit.
pub const JOIN_VALUES_MAX: usize = 20_000_000;

/// The rows of `join` over its inputs' rows.
pub fn join_rows(
    join: &Join,
    left: Vec<Row>,
    right: Vec<Row>,
    params: &Params,
) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    let mut values = 0usize;
    let mut right_matched = vec![false; right.len()];
    let keep_left = matches!(join.kind, JoinKind::Left | JoinKind::Full);
    let mut push = |row: Row, out: &mut Vec<Row>| -> Result<()> {
        values += row.len();
        if values > JOIN_VALUES_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "a join produced more than {JOIN_VALUES_MAX} values, more than this version gathers on one node"
                ),
            )
            .with_hint("Add join conditions, or filter the tables further."));
        }
        out.push(row);
        Ok(())
    };
    let mut pair = |l: &Row, r: &Row, out: &mut Vec<Row>| -> Result<bool> {
        let mut joined = l.clone();
        for &(start, len) in &join.right_columns {
            joined[start..start + len].clone_from_slice(&r[start..start + len]);
        }
        let passes = match &join.residual {
            Some(c) => c.eval_predicate(&joined, params)?,
            None => true,
        };
        if passes {
            push(joined, out)?;
        }
        Ok(passes)
    };
    let mut unmatched_left = Vec::new();
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
    } else {
        // Build on the right, probe with the left; a NULL key matches nothing.
        let mut table: HashMap<Vec<Value>, Vec<usize>> = HashMap::new();
        for (i, r) in right.iter().enumerate() {
            if let Some(key) = key_of(join.keys.iter().map(|(_, k)| k), r, params)? {
                table.entry(key).or_default().push(i);
            }
        }
        for (li, l) in left.iter().enumerate() {
            let mut matched = false;
            if let Some(key) = key_of(join.keys.iter().map(|(k, _)| k), l, params)? {
                if let Some(candidates) = table.get(&key) {
                    for &i in candidates {
                        if pair(l, &right[i], &mut out)? {
                            matched = true;
                            right_matched[i] = true;
                        }
                    }
                }
            }
            if keep_left && !matched {
                unmatched_left.push(li);
            }
        }
    }
    let mut left = left;
    for li in unmatched_left {
        push(std::mem::take(&mut left[li]), &mut out)?;
    }
    if matches!(join.kind, JoinKind::Right | JoinKind::Full) {
        for (r, matched) in right.into_iter().zip(right_matched) {
            if !matched {
                push(r, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// The values of `keys` over `row`; `None` when one is NULL.
fn key_of<'a>(
    keys: impl Iterator<Item = &'a Expr>,
    row: &[Value],
    params: &Params,
) -> Result<Option<Vec<Value>>> {
    let mut key = Vec::new();
    for k in keys {
        let v = k.eval(row, params)?;
        if v.is_null() {
            return Ok(None);
        }
        key.push(v);
    }
    Ok(Some(key))
}

/// The rows of a set operation over its inputs' rows. Without ALL the
/// result has no duplicates; with it, INTERSECT ALL keeps a row as often
/// as both sides have it and EXCEPT ALL as often as the left has it more.
/// Rows come in the order the left input first gives them.
pub fn set_rows(op: &SetOp, left: Vec<Row>, right: Vec<Row>, params: &Params) -> Result<Vec<Row>> {
    let left = cast_rows(left, &op.casts[0], params)?;
    let right = cast_rows(right, &op.casts[1], params)?;
    if op.kind == SetOpKind::Union && op.all {
        let mut out = left;
        out.extend(right);
        return Ok(out);
    }
    // How many of each row the right side has.
    let mut counts: HashMap<Row, usize> = HashMap::new();
    if op.kind != SetOpKind::Union {
        for r in right.iter() {
            *counts.entry(r.clone()).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    match op.kind {
        SetOpKind::Union => {
            let mut seen = std::collections::HashSet::new();
            for r in left.into_iter().chain(right) {
                if seen.insert(r.clone()) {
                    out.push(r);
                }
            }
        }
        SetOpKind::Intersect => {
            for r in left {
                match counts.get_mut(&r) {
                    Some(n) if *n > 0 => {
                        // Without ALL, one copy: none is left for a later duplicate.
                        *n = if op.all { *n - 1 } else { 0 };
                        out.push(r);
                    }
                    _ => {}
                }
            }
        }
        SetOpKind::Except => {
            let mut seen = std::collections::HashSet::new();
            for r in left {
                match counts.get_mut(&r) {
                    Some(n) if *n > 0 => {
                        if op.all {
                            *n -= 1;
                        }
                    }
                    _ => {
                        if op.all || seen.insert(r.clone()) {
                            out.push(r);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Rows with column `i` cast to `casts[i]` where it is set.
fn cast_rows(
    rows: Vec<Row>,
    casts: &[Option<tessera_types::DataType>],
    params: &Params,
) -> Result<Vec<Row>> {
    if casts.iter().all(Option::is_none) {
        return Ok(rows);
    }
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .zip(casts)
                .map(|(v, c)| crate::expr::cast_to(v, *c, &params.time))
                .collect()
        })
        .collect()
}

/// The rows of VALUES.
pub fn values_rows(rows: &[Vec<Expr>], params: &Params) -> Result<Vec<Row>> {
    rows.iter()
        .map(|r| r.iter().map(|e| e.eval(&[], params)).collect())
        .collect()
}

/// The rounds of a recursive WITH query: the rows so far, and (without
/// ALL) the rows seen, so that a round adds only new ones.
pub struct Rounds {
    rows: Vec<Row>,
    seen: Option<std::collections::HashSet<Row>>,
    values: usize,
}

impl Rounds {
    /// Starts from the rows of the non-recursive term; also returns the
    /// first work table.
    pub fn start(r: &Recursive, start: Vec<Row>) -> Result<(Rounds, Vec<Row>)> {
        let mut rounds = Rounds {
            rows: Vec::new(),
            seen: (!r.all).then(Default::default),
            values: 0,
        };
        let work = rounds.keep(start)?;
        Ok((rounds, work))
    }

    /// Takes a round's rows (cast to the query's types); returns the next
    /// work table, empty once the round added nothing.
    pub fn add(&mut self, r: &Recursive, round: Vec<Row>, params: &Params) -> Result<Vec<Row>> {
        self.keep(cast_rows(round, &r.casts, params)?)
    }

    fn keep(&mut self, rows: Vec<Row>) -> Result<Vec<Row>> {
        let new: Vec<Row> = match &mut self.seen {
            Some(seen) => rows
                .into_iter()
                .filter(|r| seen.insert(r.clone()))
                .collect(),
            None => rows,
        };
        self.values += new.iter().map(Vec::len).sum::<usize>();
        if self.values > JOIN_VALUES_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "a recursive query produced more than {JOIN_VALUES_MAX} values, more than this version holds on one node"
                ),
            )
            .with_hint("Check that the recursion ends (a condition in its recursive term)."));
        }
        self.rows.extend(new.iter().cloned());
        Ok(new)
    }

    pub fn finish(self) -> Vec<Row> {
        self.rows
    }
}
