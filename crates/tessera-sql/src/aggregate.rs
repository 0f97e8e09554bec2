//! Aggregate states: accumulated on each shard, merged on the router.
//!
//! A shard turns its matching rows into partial states per group and ships
//! them as values; the router merges the partials of every shard and
//! finalizes. `avg` travels as (sum, count) so the merge stays exact.
//! The variance family travels as (count, sum, sum of squares) in numeric
//! for exact inputs, as PostgreSQL computes it, and as Youngs–Cramer
//! (count, sum, sum of squared deviations) for floats, merged with
//! PostgreSQL's combine step. The regression family (`corr`, `covar_*`,
//! `regr_*`) travels as PostgreSQL's six Youngs–Cramer moments of the
//! pairs, merged the same way; `bit_and`/`bit_or`/`bit_xor` as the value
//! so far.
//!
//! DISTINCT aggregates, `string_agg`, the collecting aggregates
//! (`array_agg`, `json_agg`, the ordered-set ones) and any call with an
//! ORDER BY cannot be merged that way; the binder has their input gathered
//! to one place ([`AggCall::needs_one_place`]), so there is one partial
//! per group. A collecting aggregate keeps its inputs with their ORDER BY
//! keys, sorts them (stably, so ties keep arrival order) and computes its
//! result where they were gathered; that result is its partial.

use std::cmp::Ordering;
use std::collections::HashSet;

use tessera_types::array::Array;
use tessera_types::json::{self as jsontext, Jsonb};
use tessera_types::numeric::Numeric;
use tessera_types::{numeric_fn, sqlstate, DataType, Error, Result, Value};

use crate::expr::{binary, BinaryOp, Params};
use crate::plan::{AggCall, AggFunc, Regression};
use crate::router::sort_order;

/// An aggregate's state for one group.
#[derive(Debug, Clone)]
pub struct AggState {
    acc: Acc,
    /// For DISTINCT: the values counted already (with the second
    /// argument of the regression family, which counts pairs).
    seen: Option<HashSet<(Value, Value)>>,
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
    /// The variance family over integers and numeric: exact sums.
    Moments {
        count: i64,
        sum: Numeric,
        sum_squares: Numeric,
    },
    /// The variance family over floats, as PostgreSQL's `float8_accum`.
    FloatMoments {
        count: f64,
        sum: f64,
        /// The sum of squared deviations from the mean.
        deviations: f64,
    },
    Collect(Collected),
    /// bit_and / bit_or / bit_xor: NULL until a non-NULL input.
    Bits(Value),
    Regression(RegressionMoments),
}

/// How many values the partial state of a regression aggregate takes.
pub const REGRESSION_PARTIAL_WIDTH: usize = 6;

/// PostgreSQL's transition state of the regression aggregates
/// (`float8_regr_accum`): the count, the sums of X and Y, and the sums of
/// squared deviations (and of cross deviations) kept by Youngs–Cramer
/// updates, which do not lose precision as naive sums of squares do.
#[derive(Debug, Clone, Copy, Default)]
struct RegressionMoments {
    n: f64,
    sx: f64,
    sxx: f64,
    sy: f64,
    syy: f64,
    sxy: f64,
}

impl RegressionMoments {
    /// Adds the pair (`y`, `x`), as PostgreSQL's transition function:
    /// an infinite sum from finite inputs is 22003, from an infinite one
    /// the deviations become NaN.
    fn accumulate(&mut self, y: f64, x: f64) -> Result<()> {
        let old = *self;
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        if old.n > 0.0 {
            let dx = x * self.n - self.sx;
            let dy = y * self.n - self.sy;
            let scale = 1.0 / (self.n * old.n);
            self.sxx += dx * dx * scale;
            self.syy += dy * dy * scale;
            self.sxy += dx * dy * scale;
            if self.sx.is_infinite() || self.sxx.is_infinite() {
                if !old.sx.is_infinite() && !x.is_infinite() {
                    return Err(float_overflow());
                }
                self.sxx = f64::NAN;
            }
            if self.sy.is_infinite() || self.syy.is_infinite() {
                if !old.sy.is_infinite() && !y.is_infinite() {
                    return Err(float_overflow());
                }
                self.syy = f64::NAN;
            }
            if self.sxy.is_infinite() {
                if !old.sx.is_infinite()
                    && !x.is_infinite()
                    && !old.sy.is_infinite()
                    && !y.is_infinite()
                {
                    return Err(float_overflow());
                }
                self.sxy = f64::NAN;
            }
        } else {
            if !x.is_finite() {
                self.sxx = f64::NAN;
                self.sxy = f64::NAN;
            }
            if !y.is_finite() {
                self.syy = f64::NAN;
                self.sxy = f64::NAN;
            }
        }
        Ok(())
    }

    /// Merges another state, as PostgreSQL's combine function.
    fn combine(&mut self, other: RegressionMoments) -> Result<()> {
        if other.n == 0.0 {
            return Ok(());
        }
        if self.n == 0.0 {
            *self = other;
            return Ok(());
        }
        let n = self.n + other.n;
        let dx = self.sx / self.n - other.sx / other.n;
        let dy = self.sy / self.n - other.sy / other.n;
        // A sum that became infinite from finite parts overflowed.
        let sum = |a: f64, b: f64, extra: f64| {
            let total = a + b + extra;
            if total.is_infinite() && a.is_finite() && b.is_finite() {
                return Err(float_overflow());
            }
            Ok(total)
        };
        let sx = sum(self.sx, other.sx, 0.0)?;
        let sxx = sum(self.sxx, other.sxx, self.n * other.n * dx * dx / n)?;
        let sy = sum(self.sy, other.sy, 0.0)?;
        let syy = sum(self.syy, other.syy, self.n * other.n * dy * dy / n)?;
        let sxy = sum(self.sxy, other.sxy, self.n * other.n * dx * dy / n)?;
        *self = RegressionMoments {
            n,
            sx,
            sxx,
            sy,
            syy,
            sxy,
        };
        Ok(())
    }

    /// The aggregate's result, as PostgreSQL's final functions compute it
    /// (NULL where it is undefined: no rows, one row for the sample
    /// covariance, no spread in X for the slope).
    fn finish(&self, f: Regression) -> Value {
        let RegressionMoments {
            n,
            sx,
            sxx,
            sy,
            syy,
            sxy,
        } = *self;
        if f == Regression::Count {
            return Value::Int8(n as i64);
        }
        let value = match f {
            _ if n < 1.0 => None,
            Regression::Count => None,
            Regression::Sxx => Some(sxx),
            Regression::Syy => Some(syy),
            Regression::Sxy => Some(sxy),
            Regression::AvgX => Some(sx / n),
            Regression::AvgY => Some(sy / n),
            Regression::CovarPop => Some(sxy / n),
            Regression::CovarSamp => (n >= 2.0).then(|| sxy / (n - 1.0)),
            Regression::Corr => (sxx != 0.0 && syy != 0.0).then(|| sxy / (sxx * syy).sqrt()),
            Regression::R2 if sxx == 0.0 => None,
            Regression::R2 if syy == 0.0 => Some(1.0),
            Regression::R2 => Some(sxy * sxy / (sxx * syy)),
            Regression::Slope => (sxx != 0.0).then(|| sxy / sxx),
            Regression::Intercept => (sxx != 0.0).then(|| (sy - sx * sxy / sxx) / n),
        };
        value.map_or(Value::Null, Value::Float8)
    }
}

/// A collecting aggregate's inputs.
#[derive(Debug, Clone, Default)]
struct Collected {
    rows: Vec<CollectedRow>,
    /// The direct argument (percentile fraction), once evaluated.
    direct: Option<Value>,
    /// Merged from where the inputs were collected: the result.
    result: Option<Value>,
}

#[derive(Debug, Clone)]
struct CollectedRow {
    order_keys: Vec<Value>,
    value: Value,
    second: Value,
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

/// Adds `v` to a running sum of the same kind (numeric, or bigint for
/// smaller integers) in place, as [`add`] would; `false` when the pair
/// needs [`add`] (the first value, floats, intervals).
fn add_in_place(sum: &mut Value, v: &Value) -> Result<bool> {
    match (sum, v) {
        (Value::Numeric(a), Value::Numeric(b)) => *a = a.add(b)?,
        (Value::Numeric(a), Value::Int2(_) | Value::Int4(_) | Value::Int8(_)) => {
            let b = v.as_i64().unwrap_or_default();
            *a = a.add(&Numeric::from(b))?;
        }
        (Value::Int8(a), Value::Int2(_) | Value::Int4(_)) => {
            let b = v.as_i64().unwrap_or_default();
            *a = a
                .checked_add(b)
                .ok_or_else(|| Error::out_of_range("bigint"))?;
        }
        _ => return Ok(false),
    }
    Ok(true)
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
            let pair = match (call.func, &delimiter) {
                (AggFunc::Regression(_), Some(x)) => x.clone(),
                _ => Value::Null,
            };
            if v.is_null() || !seen.insert((v.clone(), pair)) {
                return Ok(());
            }
        }
        self.acc.accumulate(call, v, delimiter)
    }

    /// Whether the batch executor can feed it one borrowed argument value
    /// at a time ([`AggState::accumulate_ref`]): not DISTINCT, ordered,
    /// collecting, or with a second argument.
    pub fn takes_values(call: &AggCall) -> bool {
        !call.distinct
            && call.order_by.is_empty()
            && !call.func.collects()
            && call.second_arg.is_none()
            && call.func != AggFunc::StringAgg
    }

    /// Adds one borrowed input value (see [`AggState::takes_values`]):
    /// copied only when kept.
    pub fn accumulate_ref(&mut self, call: &AggCall, v: &Value) -> Result<()> {
        let done = match &mut self.acc {
            Acc::Count(n) => {
                if call.func == AggFunc::CountStar || !v.is_null() {
                    *n += 1;
                }
                true
            }
            Acc::Min(acc) => {
                if !v.is_null() && (acc.is_null() || v.compare(acc).is_lt()) {
                    *acc = v.clone();
                }
                true
            }
            Acc::Max(acc) => {
                if !v.is_null() && (acc.is_null() || v.compare(acc).is_gt()) {
                    *acc = v.clone();
                }
                true
            }
            _ if v.is_null() => true,
            Acc::Sum(sum) => add_in_place(sum, v)?,
            Acc::Avg { sum, count } => {
                let added = add_in_place(sum, v)?;
                if added {
                    *count += 1;
                }
                added
            }
            _ => false,
        };
        if done {
            return Ok(());
        }
        self.acc.accumulate(call, v.clone(), None)
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
        let second = match &call.second_arg {
            Some(d) => Some(d.eval(row, params)?),
            None => None,
        };
        let Acc::Collect(collected) = &mut self.acc else {
            return self.accumulate(call, v, second);
        };
        if v.is_null() {
            if matches!(call.func, AggFunc::JsonObjectAgg { .. }) {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    "field name must not be null",
                ));
            }
            if !call.func.keeps_nulls() {
                return Ok(());
            }
        }
        if let Some(seen) = &mut self.seen {
            if !seen.insert((v.clone(), Value::Null)) {
                return Ok(());
            }
        }
        if let (None, Some(d)) = (&collected.direct, &call.direct_arg) {
            collected.direct = Some(d.eval(row, params)?);
        }
        let mut order_keys = Vec::with_capacity(call.order_by.len());
        for (e, _, _) in &call.order_by {
            order_keys.push(e.eval(row, params)?);
        }
        collected.rows.push(CollectedRow {
            order_keys,
            value: v,
            second: second.unwrap_or(Value::Null),
        });
        Ok(())
    }

    /// Appends the partial state as values (a collecting aggregate's
    /// result: its inputs are all here).
    pub fn write_partial(
        self,
        call: &AggCall,
        params: &Params,
        out: &mut Vec<Value>,
    ) -> Result<()> {
        match self.acc {
            Acc::Collect(_) => out.push(self.finish(call, params)?),
            acc => acc.write_partial(out),
        }
        Ok(())
    }

    /// Merges a partial state read from `values` (as written by `write_partial`).
    pub fn merge(&mut self, call: &AggCall, values: &[Value]) -> Result<()> {
        self.acc.merge(call, values)
    }

    pub fn finish(self, call: &AggCall, params: &Params) -> Result<Value> {
        match self.acc {
            Acc::Collect(c) => finish_collected(call, c, params),
            acc => acc.finish(call),
        }
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
            AggFunc::BitAnd | AggFunc::BitOr | AggFunc::BitXor => Acc::Bits(Value::Null),
            AggFunc::Regression(_) => Acc::Regression(RegressionMoments::default()),
            _ if call.func.collects() || !call.order_by.is_empty() => {
                Acc::Collect(Collected::default())
            }
            AggFunc::StringAgg => Acc::Text(None),
            AggFunc::Variance { .. } if call.arg_type.is_float() => Acc::FloatMoments {
                count: 0.0,
                sum: 0.0,
                deviations: 0.0,
            },
            AggFunc::Variance { .. } => Acc::Moments {
                count: 0,
                sum: Numeric::ZERO,
                sum_squares: Numeric::ZERO,
            },
            AggFunc::ArrayAgg
            | AggFunc::JsonAgg { .. }
            | AggFunc::JsonObjectAgg { .. }
            | AggFunc::PercentileCont
            | AggFunc::PercentileDisc
            | AggFunc::Mode => Acc::Collect(Collected::default()),
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
            Acc::Moments {
                count,
                sum,
                sum_squares,
            } => {
                let d = v.to_numeric()?;
                *count += 1;
                *sum = sum.add(&d)?;
                *sum_squares = sum_squares.add(&d.mul(&d)?)?;
            }
            Acc::FloatMoments {
                count,
                sum,
                deviations,
            } => {
                let x = v.to_f64()?;
                float_accumulate(count, sum, deviations, x)?;
            }
            Acc::Collect(_) => {
                return Err(Error::internal("a collecting aggregate fed a bare value"))
            }
            Acc::Bits(acc) => *acc = bits(call.func, std::mem::replace(acc, Value::Null), v)?,
            Acc::Regression(m) => {
                // A pair with a NULL X is skipped, as one with a NULL Y.
                let Some(x) = delimiter.filter(|x| !x.is_null()) else {
                    return Ok(());
                };
                m.accumulate(v.to_f64()?, x.to_f64()?)?;
            }
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
            Acc::Moments {
                count,
                sum,
                sum_squares,
            } => {
                out.push(Value::Int8(count));
                out.push(Value::Numeric(sum));
                out.push(Value::Numeric(sum_squares));
            }
            Acc::FloatMoments {
                count,
                sum,
                deviations,
            } => {
                out.push(Value::Float8(count));
                out.push(Value::Float8(sum));
                out.push(Value::Float8(deviations));
            }
            Acc::Collect(c) => out.push(c.result.unwrap_or(Value::Null)),
            Acc::Bits(v) => out.push(v),
            Acc::Regression(m) => {
                out.extend([m.n, m.sx, m.sxx, m.sy, m.syy, m.sxy].map(Value::Float8))
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
                    second_arg: None,
                    order_by: vec![],
                    direct_arg: None,
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
            Acc::Moments {
                count,
                sum,
                sum_squares,
            } => {
                let (Some(Value::Int8(c)), Some(Value::Numeric(s)), Some(Value::Numeric(q))) =
                    (values.first(), values.get(1), values.get(2))
                else {
                    return Err(bad());
                };
                *count += c;
                *sum = sum.add(s)?;
                *sum_squares = sum_squares.add(q)?;
            }
            Acc::FloatMoments {
                count,
                sum,
                deviations,
            } => {
                let (Some(Value::Float8(n2)), Some(Value::Float8(s2)), Some(Value::Float8(d2))) =
                    (values.first(), values.get(1), values.get(2))
                else {
                    return Err(bad());
                };
                float_combine(count, sum, deviations, *n2, *s2, *d2)?;
            }
            Acc::Collect(c) => {
                // Collected in one place: the one partial is the result.
                c.result = Some(values.first().ok_or_else(bad)?.clone());
            }
            Acc::Bits(acc) => {
                let v = values.first().ok_or_else(bad)?.clone();
                if !v.is_null() {
                    *acc = bits(call.func, std::mem::replace(acc, Value::Null), v)?;
                }
            }
            Acc::Regression(m) => {
                let [Value::Float8(n), Value::Float8(sx), Value::Float8(sxx), Value::Float8(sy), Value::Float8(syy), Value::Float8(sxy)] =
                    values.get(..REGRESSION_PARTIAL_WIDTH).ok_or_else(bad)?
                else {
                    return Err(bad());
                };
                m.combine(RegressionMoments {
                    n: *n,
                    sx: *sx,
                    sxx: *sxx,
                    sy: *sy,
                    syy: *syy,
                    sxy: *sxy,
                })?;
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
                Value::Numeric(d) => Value::Numeric(d.div(&Numeric::from(count))?),
                Value::Interval(i) => Value::Interval(i.div(count as f64)?),
                Value::Null => Value::Null,
                other => return Err(Error::internal(format!("avg over {other:?}"))),
            },
            Acc::Moments {
                count,
                sum,
                sum_squares,
            } => {
                let AggFunc::Variance { population, root } = call.func else {
                    return Err(Error::internal("moments of a non-variance aggregate"));
                };
                exact_variance(count, sum, sum_squares, population, root)?
            }
            Acc::FloatMoments {
                count, deviations, ..
            } => {
                let AggFunc::Variance { population, root } = call.func else {
                    return Err(Error::internal("moments of a non-variance aggregate"));
                };
                let divisor = if population { count } else { count - 1.0 };
                if count == 0.0 || divisor <= 0.0 {
                    Value::Null
                } else {
                    let v = deviations / divisor;
                    Value::Float8(if root { v.sqrt() } else { v })
                }
            }
            Acc::Collect(c) => c.result.unwrap_or(Value::Null),
            Acc::Bits(v) => v,
            Acc::Regression(m) => {
                let AggFunc::Regression(f) = call.func else {
                    return Err(Error::internal("moments of a non-regression aggregate"));
                };
                m.finish(f)
            }
        })
    }
}

/// `acc` (NULL before the first input) combined with the integer `v` by
/// `bit_and`, `bit_or` or `bit_xor`, in their common type.
fn bits(func: AggFunc, acc: Value, v: Value) -> Result<Value> {
    let op = |a: i64, b: i64| match func {
        AggFunc::BitAnd => a & b,
        AggFunc::BitOr => a | b,
        _ => a ^ b,
    };
    Ok(match (acc, v) {
        (Value::Null, v) => v,
        (Value::Int2(a), Value::Int2(b)) => Value::Int2(op(a.into(), b.into()) as i16),
        (Value::Int4(a), Value::Int4(b)) => Value::Int4(op(a.into(), b.into()) as i32),
        (Value::Int8(a), Value::Int8(b)) => Value::Int8(op(a, b)),
        (a, b) => return Err(Error::internal(format!("{func:?} of {a:?} and {b:?}"))),
    })
}

fn float_overflow() -> Error {
    Error::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow",
    )
}

/// PostgreSQL's `float8_accum` (Youngs–Cramer): the same steps, so the
/// same bits.
fn float_accumulate(count: &mut f64, sum: &mut f64, deviations: &mut f64, x: f64) -> Result<()> {
    let old_count = *count;
    let old_sum = *sum;
    *count += 1.0;
    *sum += x;
    if old_count > 0.0 {
        let t = x * *count - *sum;
        *deviations += t * t / (*count * old_count);
        if sum.is_infinite() || deviations.is_infinite() {
            if !old_sum.is_infinite() && !x.is_infinite() {
                return Err(float_overflow());
            }
            *deviations = f64::NAN;
        }
    } else if x.is_nan() || x.is_infinite() {
        *deviations = f64::NAN;
    }
    Ok(())
}

/// PostgreSQL's `float8_combine`.
fn float_combine(
    count: &mut f64,
    sum: &mut f64,
    deviations: &mut f64,
    count2: f64,
    sum2: f64,
    deviations2: f64,
) -> Result<()> {
    if count2 == 0.0 {
        return Ok(());
    }
    if *count == 0.0 {
        (*count, *sum, *deviations) = (count2, sum2, deviations2);
        return Ok(());
    }
    let n = *count + count2;
    let s = *sum + sum2;
    let t = *sum / *count - sum2 / count2;
    let d = *deviations + deviations2 + *count * count2 * t * t / n;
    if s.is_infinite() || d.is_infinite() {
        if !sum.is_infinite() && !sum2.is_infinite() {
            return Err(float_overflow());
        }
        *deviations = f64::NAN;
    } else {
        *deviations = d;
    }
    *count = n;
    *sum = s;
    Ok(())
}

/// PostgreSQL's `numeric_stddev_internal`: (N·Σx² − (Σx)²) / (N·(N−1))
/// (or N·N), at the division's scale; the root at that scale too.
fn exact_variance(
    count: i64,
    sum: Numeric,
    sum_squares: Numeric,
    population: bool,
    root: bool,
) -> Result<Value> {
    if count == 0 || (!population && count == 1) {
        return Ok(Value::Null);
    }
    let n = Numeric::from(count);
    let numerator = n.mul(&sum_squares)?.sub(&sum.mul(&sum)?)?;
    if numerator <= Numeric::ZERO {
        // Exact arithmetic: only equal inputs give zero.
        return Ok(Value::Numeric(Numeric::ZERO));
    }
    let denominator = if population {
        n.mul(&n)?
    } else {
        n.mul(&Numeric::from(count - 1))?
    };
    let variance = numerator.div(&denominator)?;
    if !root {
        return Ok(Value::Numeric(variance));
    }
    let scale = variance.scale();
    Ok(Value::Numeric(numeric_fn::sqrt_at(&variance, scale)?))
}

/// A collecting aggregate's result from all of a group's inputs.
fn finish_collected(call: &AggCall, collected: Collected, params: &Params) -> Result<Value> {
    // What json_agg and json_object_agg write follows the session's
    // output settings, as to_json does.
    let style = tessera_types::output::OutputStyle::of(&params.time);
    if let Some(result) = collected.result {
        return Ok(result);
    }
    let direct = match (collected.direct, &call.direct_arg) {
        (Some(v), _) => Some(v),
        (None, Some(d)) => Some(d.eval(&[], params)?),
        (None, None) => None,
    };
    let mut rows = collected.rows;
    if !call.order_by.is_empty() {
        rows.sort_by(|a, b| {
            for (k, (_, descending, nulls_first)) in call.order_by.iter().enumerate() {
                let o = sort_order(
                    &a.order_keys[k],
                    &b.order_keys[k],
                    *descending,
                    *nulls_first,
                );
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    } else if call.distinct {
        // PostgreSQL finds distinct values by sorting them.
        rows.sort_by(|a, b| sort_order(&a.value, &b.value, false, false));
    }
    match call.func {
        AggFunc::PercentileCont | AggFunc::PercentileDisc => {
            let Some(fraction) = direct else {
                return Err(Error::internal("a percentile without its fraction"));
            };
            if fraction.is_null() {
                return Ok(Value::Null);
            }
            let f = fraction.to_f64()?;
            if !(0.0..=1.0).contains(&f) {
                return Err(Error::new(
                    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                    format!("percentile value {} is not between 0 and 1", format_g(f)),
                ));
            }
            if rows.is_empty() {
                return Ok(Value::Null);
            }
            let n = rows.len();
            if call.func == AggFunc::PercentileDisc {
                let row_number = (f * n as f64).ceil() as usize;
                let at = row_number.clamp(1, n) - 1;
                return Ok(rows.swap_remove(at).value);
            }
            let position = f * (n - 1) as f64;
            let (first, second) = (position.floor() as usize, position.ceil() as usize);
            let first = first.min(n - 1);
            let second = second.min(n - 1);
            let low = rows[first].value.clone();
            if first == second {
                return Ok(low);
            }
            let high = rows[second].value.clone();
            let proportion = position - first as f64;
            match (low, high) {
                (Value::Float8(a), Value::Float8(b)) => Ok(Value::Float8(a + (b - a) * proportion)),
                (a @ Value::Interval(_), b @ Value::Interval(_)) => {
                    let span = binary(BinaryOp::Sub, b, a.clone())?;
                    let step = binary(BinaryOp::Mul, span, Value::Float8(proportion))?;
                    binary(BinaryOp::Add, a, step)
                }
                (a, _) => Err(Error::internal(format!("percentile_cont over {a:?}"))),
            }
        }
        AggFunc::Mode => {
            let mut best: Option<(usize, usize)> = None;
            let mut start = 0;
            while start < rows.len() {
                let mut end = start + 1;
                while end < rows.len()
                    && rows[end].value.compare(&rows[start].value) == Ordering::Equal
                {
                    end += 1;
                }
                if best.is_none_or(|(_, count)| end - start > count) {
                    best = Some((start, end - start));
                }
                start = end;
            }
            Ok(match best {
                Some((at, _)) => rows.swap_remove(at).value,
                None => Value::Null,
            })
        }
        _ if rows.is_empty() => Ok(Value::Null),
        AggFunc::ArrayAgg => {
            let DataType::Array(elem) = call.result_type else {
                return Err(Error::internal("array_agg without an array type"));
            };
            let items = rows.into_iter().map(|r| r.value).collect();
            Ok(Value::Array(Box::new(Array { elem, items })))
        }
        AggFunc::JsonAgg { binary: true } => {
            let items = rows
                .iter()
                .map(|r| crate::json::to_jsonb_in(&r.value, &style))
                .collect::<Result<Vec<_>>>()?;
            Ok(Value::Jsonb(Box::new(Jsonb::Array(items))))
        }
        AggFunc::JsonAgg { binary: false } => {
            // Rows and arrays after the first start a line, as in
            // PostgreSQL's json_agg.
            let rows_in = matches!(
                call.arg,
                Some(crate::expr::Expr::Call {
                    func: crate::expr::Function::Json(crate::json::JsonFn::RowObject(_)),
                    ..
                })
            );
            let mut out = String::from("[");
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                    if rows_in || matches!(r.value, Value::Array(_)) {
                        out.push_str("\n ");
                    }
                }
                crate::json::write_json_element_in(&r.value, &mut out, &style)?;
            }
            out.push(']');
            Ok(Value::Json(out))
        }
        AggFunc::JsonObjectAgg { binary } => {
            let mut pairs = Vec::with_capacity(rows.len());
            for r in &rows {
                pairs.push((json_key(&r.value)?, r));
            }
            if binary {
                let pairs = pairs
                    .into_iter()
                    .map(|(k, r)| Ok((k, crate::json::to_jsonb_in(&r.second, &style)?)))
                    .collect::<Result<Vec<_>>>()?;
                return Ok(Value::Jsonb(Box::new(Jsonb::Object(
                    jsontext::normalize_object(pairs),
                ))));
            }
            let mut out = String::from("{ ");
            for (i, (k, r)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                jsontext::write_string(&mut out, k);
                out.push_str(" : ");
                write_json_value(&r.second, &mut out, &style)?;
            }
            out.push_str(" }");
            Ok(Value::Json(out))
        }
        AggFunc::StringAgg => {
            let mut out = String::new();
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    if let Some(d) = r.second.to_text() {
                        out.push_str(&d);
                    }
                }
                out.push_str(&r.value.to_text().unwrap_or_default());
            }
            Ok(Value::Text(out))
        }
        other => Err(Error::internal(format!("{other:?} does not collect"))),
    }
}

/// A value inside a json (not jsonb) aggregate: json as given, anything
/// else as `to_json` writes it.
fn write_json_value(
    v: &Value,
    out: &mut String,
    style: &tessera_types::output::OutputStyle,
) -> Result<()> {
    match v {
        Value::Json(text) => out.push_str(text),
        other => crate::json::to_jsonb_in(other, style)?.write_text(out),
    }
    Ok(())
}

/// An object key from a SQL value: a scalar's JSON text, unquoted.
fn json_key(v: &Value) -> Result<String> {
    match crate::json::to_jsonb(v)? {
        Jsonb::String(s) => Ok(s),
        Jsonb::Array(_) | Jsonb::Object(_) => Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "key value must be scalar, not array, composite, or json",
        )),
        scalar => Ok(scalar.to_text()),
    }
}

/// A float as C's `%g` prints it: 6 significant digits, trailing zeros
/// dropped, exponent form outside 1e-4..1e6.
fn format_g(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "nan".into()
        } else if f > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if f == 0.0 {
        return "0".into();
    }
    let exponent = f.abs().log10().floor() as i32;
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if (-4..6).contains(&exponent) {
        let decimals = (5 - exponent).max(0) as usize;
        trim(format!("{f:.decimals$}"))
    } else {
        let s = format!("{f:.5e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_string()), exp.abs())
    }
}
