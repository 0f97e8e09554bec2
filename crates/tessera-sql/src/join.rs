//! Joins of rows gathered to the router: a hash join on the condition's
//! equalities when it has any, a nested loop otherwise; outer joins keep
//! unmatched rows, whose other side stays NULL. Rows are as wide as the
//! whole FROM (see [`crate::plan::Source`]).

use std::collections::HashMap;

use tessera_types::{sqlstate, Error, Result, Value};

use crate::expr::{Expr, Params};
use crate::plan::{Join, JoinKind, Row};

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
