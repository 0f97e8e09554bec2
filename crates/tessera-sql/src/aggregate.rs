//! Aggregate states: accumulated on each shard, merged on the router.
//!
//! A shard turns its matching rows into partial states per group and ships
//! them as values; the router merges the partials of every shard and
//! finalizes. `avg` travels as (sum, count) so the merge stays exact.

use rust_decimal::Decimal;
use tessera_types::{numeric, DataType, Error, Result, Value};

use crate::expr::{binary, BinaryOp};
use crate::plan::{AggCall, AggFunc};

#[derive(Debug, Clone)]
pub enum AggState {
    Count(i64),
    Sum(Value),
    Min(Value),
    Max(Value),
    Avg { sum: Value, count: i64 },
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
        match call.func {
            AggFunc::CountStar | AggFunc::Count => AggState::Count(0),
            AggFunc::Sum => AggState::Sum(Value::Null),
            AggFunc::Min => AggState::Min(Value::Null),
            AggFunc::Max => AggState::Max(Value::Null),
            AggFunc::Avg => AggState::Avg {
                sum: Value::Null,
                count: 0,
            },
        }
    }

    /// Adds one input value (the evaluated argument; ignored for `count(*)`).
    pub fn accumulate(&mut self, call: &AggCall, v: Value) -> Result<()> {
        if call.func != AggFunc::CountStar && v.is_null() {
            return Ok(());
        }
        match self {
            AggState::Count(n) => *n += 1,
            AggState::Sum(acc) => {
                *acc = add(
                    std::mem::replace(acc, Value::Null),
                    v,
                    sum_type(call.arg_type),
                )?
            }
            AggState::Min(acc) => {
                if acc.is_null() || v.compare(acc).is_lt() {
                    *acc = v;
                }
            }
            AggState::Max(acc) => {
                if acc.is_null() || v.compare(acc).is_gt() {
                    *acc = v;
                }
            }
            AggState::Avg { sum, count } => {
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

    /// Appends the partial state as values.
    pub fn write_partial(self, out: &mut Vec<Value>) {
        match self {
            AggState::Count(n) => out.push(Value::Int8(n)),
            AggState::Sum(v) | AggState::Min(v) | AggState::Max(v) => out.push(v),
            AggState::Avg { sum, count } => {
                out.push(sum);
                out.push(Value::Int8(count));
            }
        }
    }

    /// Merges a partial state read from `values` (as written by `write_partial`).
    pub fn merge(&mut self, call: &AggCall, values: &[Value]) -> Result<()> {
        let bad = || Error::internal("malformed partial aggregate");
        match self {
            AggState::Count(n) => *n += values.first().and_then(|v| v.as_i64()).ok_or_else(bad)?,
            AggState::Sum(_) | AggState::Min(_) | AggState::Max(_) => {
                let v = values.first().ok_or_else(bad)?.clone();
                let as_input = AggCall {
                    func: call.func,
                    arg: None,
                    arg_type: sum_type(call.arg_type),
                    result_type: call.result_type,
                };
                if let AggState::Sum(acc) = self {
                    if !v.is_null() {
                        *acc = add(
                            std::mem::replace(acc, Value::Null),
                            v,
                            sum_type(call.arg_type),
                        )?;
                    }
                } else {
                    self.accumulate(&as_input, v)?;
                }
            }
            AggState::Avg { sum, count } => {
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

    pub fn finish(self, call: &AggCall) -> Result<Value> {
        Ok(match self {
            AggState::Count(n) => Value::Int8(n),
            AggState::Sum(v) => v.cast(call.result_type, true)?,
            AggState::Min(v) | AggState::Max(v) => v,
            AggState::Avg { count: 0, .. } => Value::Null,
            AggState::Avg { sum, count } => match sum {
                Value::Float8(f) => Value::Float8(f / count as f64),
                Value::Numeric(d) => Value::Numeric(numeric::div(d, Decimal::from(count))?),
                Value::Interval(i) => Value::Interval(i.div(count as f64)?),
                Value::Null => Value::Null,
                other => return Err(Error::internal(format!("avg over {other:?}"))),
            },
        })
    }
}
