//! Aggregate states: accumulated on each shard, merged on the router.
//!
//! A shard turns its matching rows into partial states per group and ships
//! them as values; the router merges the partials of every shard and
//! finalizes. `avg` travels as (sum, count) so the merge stays exact.
//! DISTINCT aggregates and `string_agg` cannot be merged that way; the
//! binder has their input gathered to one place
//! ([`AggCall::needs_one_place`]), so there is one partial per group.

use std::collections::HashSet;

use rust_decimal::Decimal;
use tessera_types::{numeric, DataType, Error, Result, Value};

use crate::expr::{binary, BinaryOp, Params};
use crate::plan::{AggCall, AggFunc};

/// An aggregate's state for one group.
#[derive(Debug, Clone)]
pub struct AggState {
    acc: Acc,
    /// For DISTINCT: the values counted already.
    seen: Option<HashSet<Value>>,
}

#[derive(Debug, Clone)]
enum Acc {
    Count(i64),
    Sum(Value),
    Min(Value),
    Max(Value),
    Avg {
        sum: Value,
        count: i64,
    },
    /// bool_and / bool_or: NULL until a non-NULL input.
    Bool(Value),
    Text(Option<String>),
}

/// The type sums of `arg_type` accumulate in.
fn sum_type(arg_type: DataType) -> DataType {
    match arg_type {
        DataType::Int2 | DataType::Int4 => DataType::Int8,
        DataType::Int8 | DataType::Numeric(_) => DataType::Numeric(None),
        other => other,
    }
}

fn avg_sum_type(arg_type: DataType) -> DataType {
    if arg_type.is_float() {
        DataType::Float8
    } else if let DataType::Interval(_) = arg_type {
        DataType::Interval(None)
    } else {
        DataType::Numeric(None)
    }
}

fn add(acc: Value, v: Value, ty: DataType) -> Result<Value> {
    let v = v.cast(ty, true)?;
    if acc.is_null() {
        return Ok(v);
    }
    binary(BinaryOp::Add, acc, v)
}

impl AggState {
    pub fn new(call: &AggCall) -> AggState {
        AggState {
            acc: Acc::new(call),
            seen: call.distinct.then(HashSet::new),
        }
    }

    /// Adds one input value (the evaluated argument; ignored for
    /// `count(*)`), with `string_agg`'s delimiter.
    pub fn accumulate(&mut self, call: &AggCall, v: Value, delimiter: Option<Value>) -> Result<()> {
        if let Some(seen) = &mut self.seen {
            if v.is_null() || !seen.insert(v.clone()) {
                return Ok(());
            }
        }
        self.acc.accumulate(call, v, delimiter)
    }

    /// Adds an input row: the call's FILTER, then its arguments over it.
    pub fn feed(&mut self, call: &AggCall, row: &[Value], params: &Params) -> Result<()> {
        if let Some(f) = &call.filter {
            if !f.eval_predicate(row, params)? {
                return Ok(());
            }
        }
        let v = match &call.arg {
            Some(a) => a.eval(row, params)?,
            None => Value::Null,
        };
        let delimiter = match &call.delimiter {
            Some(d) => Some(d.eval(row, params)?),
            None => None,
        };
        self.accumulate(call, v, delimiter)
    }

    /// Appends the partial state as values.
    pub fn write_partial(self, out: &mut Vec<Value>) {
        self.acc.write_partial(out)
    }

    /// Merges a partial state read from `values` (as written by `write_partial`).
    pub fn merge(&mut self, call: &AggCall, values: &[Value]) -> Result<()> {
        self.acc.merge(call, values)
    }

    pub fn finish(self, call: &AggCall) -> Result<Value> {
        self.acc.finish(call)
    }
}

impl Acc {
    fn new(call: &AggCall) -> Acc {
        match call.func {
            AggFunc::CountStar | AggFunc::Count => Acc::Count(0),
            AggFunc::Sum => Acc::Sum(Value::Null),
            AggFunc::Min => Acc::Min(Value::Null),
            AggFunc::Max => Acc::Max(Value::Null),
            AggFunc::Avg => Acc::Avg {
                sum: Value::Null,
                count: 0,
            },
            AggFunc::BoolAnd | AggFunc::BoolOr => Acc::Bool(Value::Null),
            AggFunc::StringAgg => Acc::Text(None),
        }
    }

    fn accumulate(&mut self, call: &AggCall, v: Value, delimiter: Option<Value>) -> Result<()> {
        if call.func != AggFunc::CountStar && v.is_null() {
            return Ok(());
        }
        match self {
            Acc::Bool(acc) => {
                let b = v.as_bool().unwrap_or(false);
                *acc = match (acc.as_bool(), call.func) {
                    (None, _) => Value::Bool(b),
                    (Some(a), AggFunc::BoolAnd) => Value::Bool(a && b),
                    (Some(a), _) => Value::Bool(a || b),
                };
            }
            Acc::Text(acc) => {
                let text = v.to_text().unwrap_or_default();
                match acc {
                    None => *acc = Some(text),
                    Some(s) => {
                        if let Some(d) = delimiter.and_then(|d| d.to_text()) {
                            s.push_str(&d);
                        }
                        s.push_str(&text);
                    }
                }
            }
            Acc::Count(n) => *n += 1,
            Acc::Sum(acc) => {
                *acc = add(
                    std::mem::replace(acc, Value::Null),
                    v,
                    sum_type(call.arg_type),
                )?
            }
            Acc::Min(acc) => {
                if acc.is_null() || v.compare(acc).is_lt() {
                    *acc = v;
                }
            }
            Acc::Max(acc) => {
                if acc.is_null() || v.compare(acc).is_gt() {
                    *acc = v;
                }
            }
            Acc::Avg { sum, count } => {
                *sum = add(
                    std::mem::replace(sum, Value::Null),
                    v,
                    avg_sum_type(call.arg_type),
                )?;
                *count += 1;
            }
        }
        Ok(())
    }

    fn write_partial(self, out: &mut Vec<Value>) {
        match self {
            Acc::Count(n) => out.push(Value::Int8(n)),
            Acc::Sum(v) | Acc::Min(v) | Acc::Max(v) | Acc::Bool(v) => out.push(v),
            Acc::Text(t) => out.push(t.map_or(Value::Null, Value::Text)),
            Acc::Avg { sum, count } => {
                out.push(sum);
                out.push(Value::Int8(count));
            }
        }
    }

    fn merge(&mut self, call: &AggCall, values: &[Value]) -> Result<()> {
        let bad = || Error::internal("malformed partial aggregate");
        match self {
            Acc::Count(n) => *n += values.first().and_then(|v| v.as_i64()).ok_or_else(bad)?,
            Acc::Text(acc) => {
                // Gathered to one place: one partial per group.
                if let Value::Text(t) = values.first().ok_or_else(bad)? {
                    acc.get_or_insert_with(String::new).push_str(t);
                }
            }
            Acc::Sum(_) | Acc::Min(_) | Acc::Max(_) | Acc::Bool(_) => {
                let v = values.first().ok_or_else(bad)?.clone();
                let as_input = AggCall {
                    func: call.func,
                    arg: None,
                    delimiter: None,
                    distinct: false,
                    filter: None,
                    arg_type: sum_type(call.arg_type),
                    result_type: call.result_type,
                };
                if let Acc::Sum(acc) = self {
                    if !v.is_null() {
                        *acc = add(
                            std::mem::replace(acc, Value::Null),
                            v,
                            sum_type(call.arg_type),
                        )?;
                    }
                } else {
                    self.accumulate(&as_input, v, None)?;
                }
            }
            Acc::Avg { sum, count } => {
                let s = values.first().ok_or_else(bad)?.clone();
                let c = values.get(1).and_then(|v| v.as_i64()).ok_or_else(bad)?;
                if !s.is_null() {
                    *sum = add(
                        std::mem::replace(sum, Value::Null),
                        s,
                        avg_sum_type(call.arg_type),
                    )?;
                }
                *count += c;
            }
        }
        Ok(())
    }

    fn finish(self, call: &AggCall) -> Result<Value> {
        Ok(match self {
            Acc::Count(n) => Value::Int8(n),
            Acc::Sum(v) => v.cast(call.result_type, true)?,
            Acc::Min(v) | Acc::Max(v) | Acc::Bool(v) => v,
            Acc::Text(t) => t.map_or(Value::Null, Value::Text),
            Acc::Avg { count: 0, .. } => Value::Null,
            Acc::Avg { sum, count } => match sum {
                Value::Float8(f) => Value::Float8(f / count as f64),
                Value::Numeric(d) => Value::Numeric(numeric::div(d, Decimal::from(count))?),
                Value::Interval(i) => Value::Interval(i.div(count as f64)?),
                Value::Null => Value::Null,
                other => return Err(Error::internal(format!("avg over {other:?}"))),
            },
        })
    }
}
