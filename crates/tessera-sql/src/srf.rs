//! Set-returning functions in FROM (and, rewritten into FROM by the
//! binder, in a select list): `unnest`, the json ones, `regexp_matches`,
//! `regexp_split_to_table`, `string_to_table`, and `generate_series`
//! when it runs beside others.
//!
//! Several functions in one FROM item (what a select list with several
//! set-returning calls becomes) run side by side as PostgreSQL 10+ runs
//! them, and as its `ROWS FROM (f(…), g(…))` does: as many rows as the
//! longest gives, the shorter ones padded with NULLs, none when every
//! one gives none. A function's rows are computed whole before they are
//! zipped; a lone `generate_series` streams instead (see
//! `shard::series_rows`), and beside others is bounded by
//! `SERIES_ROWS_MAX` like it.

use tessera_types::datetime::{ops, Interval, TimeZone};
use tessera_types::numeric::Numeric;
use tessera_types::value::Record;
use tessera_types::{sqlstate, DataType, Error, RecordShape, Result, Value};

use crate::expr::{Expr, Params};
use crate::shard::SERIES_ROWS_MAX;

/// A set-returning function that runs where its FROM item runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TableFn {
    /// `unnest(array)`: one column, an element per row.
    Unnest,
    /// `json[b]_array_elements`: `value` per element.
    Elements { text: bool },
    /// `json[b]_each`: `key`, `value` per member.
    Each { text: bool },
    /// `json[b]_object_keys`: one text column.
    ObjectKeys,
    /// `regexp_matches(s, p [, flags])`: a text[] of groups per match.
    RegexpMatches,
    /// `regexp_split_to_table(s, p [, flags])`.
    RegexpSplit,
    /// `string_to_table(s, delimiter [, null_string])`.
    StringToTable,
    /// `generate_series(start, stop [, step])` over the type it names
    /// (int4, int8, numeric, timestamp or timestamptz; see [`Series`]),
    /// when it runs beside other functions or WITH ORDINALITY.
    Series(DataType),
    /// `WITH ORDINALITY`'s column: the row's number from 1 (bigint). It
    /// takes no arguments; [`rows_from`] numbers the rows it zips.
    Ordinality,
    /// `information_schema._pg_expandarray(array)`: a row per element,
    /// its value `x` and 1-based position `n`. In FROM those are two
    /// columns; in a select list (`record`) one record column of both.
    ExpandArray { record: bool },
    /// `generate_subscripts(array, dim [, reverse])`: the subscripts of
    /// dimension `dim` (Tessera's arrays have one, starting at 1, and
    /// int2vector's and oidvector's start at 0: the binder passes the
    /// lower bound as a fourth argument).
    Subscripts,
}

/// The name a select list's `_pg_expandarray` call takes when
/// `srf_as_lateral` moves it into FROM, where it must still return one
/// record column, not the two columns it returns in FROM.
pub const EXPAND_ARRAY_RECORD: &str = "?_pg_expandarray record?";

impl TableFn {
    /// The function called `name` (besides `generate_series`), and
    /// whether it is the json (not jsonb) one.
    pub fn named(name: &str) -> Option<(TableFn, bool)> {
        let plain = match name {
            "unnest" => Some(TableFn::Unnest),
            "regexp_matches" => Some(TableFn::RegexpMatches),
            "regexp_split_to_table" => Some(TableFn::RegexpSplit),
            "string_to_table" => Some(TableFn::StringToTable),
            "_pg_expandarray" => Some(TableFn::ExpandArray { record: false }),
            EXPAND_ARRAY_RECORD => Some(TableFn::ExpandArray { record: true }),
            "generate_subscripts" => Some(TableFn::Subscripts),
            _ => None,
        };
        if let Some(f) = plain {
            return Some((f, false));
        }
        let (binary, rest) = match name.strip_prefix("jsonb_") {
            Some(rest) => (true, rest),
            None => (false, name.strip_prefix("json_")?),
        };
        let f = match rest {
            "array_elements" => TableFn::Elements { text: false },
            "array_elements_text" => TableFn::Elements { text: true },
            "each" => TableFn::Each { text: false },
            "each_text" => TableFn::Each { text: true },
            "object_keys" => TableFn::ObjectKeys,
            _ => return None,
        };
        Some((f, binary))
    }

    /// Its SQL name (the json form's), for EXPLAIN.
    pub fn name(self) -> &'static str {
        match self {
            TableFn::Unnest => "unnest",
            TableFn::Elements { text: false } => "json_array_elements",
            TableFn::Elements { text: true } => "json_array_elements_text",
            TableFn::Each { text: false } => "json_each",
            TableFn::Each { text: true } => "json_each_text",
            TableFn::ObjectKeys => "json_object_keys",
            TableFn::RegexpMatches => "regexp_matches",
            TableFn::RegexpSplit => "regexp_split_to_table",
            TableFn::StringToTable => "string_to_table",
            TableFn::Series(_) => "generate_series",
            TableFn::Ordinality => "ordinality",
            TableFn::ExpandArray { .. } => "_pg_expandarray",
            TableFn::Subscripts => "generate_subscripts",
        }
    }

    /// Whether its arguments are text (the string and pattern functions).
    pub fn takes_text(self) -> bool {
        matches!(
            self,
            TableFn::RegexpMatches | TableFn::RegexpSplit | TableFn::StringToTable
        )
    }

    /// Its columns: names and types. `doc` is the type of the (last)
    /// argument of `unnest` and the json functions (whose `value` is json
    /// or jsonb as the argument, or text for the `_text` forms); a
    /// function returning a scalar names its column `name`.
    pub fn columns(self, doc: DataType, name: &str) -> Vec<(String, DataType)> {
        let value = |text: bool| if text { DataType::Text } else { doc };
        match self {
            TableFn::Unnest => match doc {
                DataType::Array(e) => vec![(name.to_string(), e.data_type())],
                _ => vec![(name.to_string(), DataType::Text)],
            },
            TableFn::Elements { text } => vec![("value".into(), value(text))],
            TableFn::Each { text } => {
                vec![
                    ("key".into(), DataType::Text),
                    ("value".into(), value(text)),
                ]
            }
            TableFn::ObjectKeys | TableFn::RegexpSplit | TableFn::StringToTable => {
                vec![(name.to_string(), DataType::Text)]
            }
            TableFn::RegexpMatches => vec![(
                name.to_string(),
                DataType::Array(tessera_types::array::Elem::Text),
            )],
            TableFn::Series(t) => vec![(name.to_string(), t)],
            TableFn::Ordinality => vec![("ordinality".to_string(), DataType::Int8)],
            TableFn::ExpandArray { record } => {
                let DataType::Array(elem) = doc else {
                    return vec![(name.to_string(), DataType::Text)];
                };
                let shape = RecordShape::ExpandArray(elem);
                if record {
                    vec![(name.to_string(), DataType::Record(shape))]
                } else {
                    shape
                        .fields()
                        .into_iter()
                        .map(|(n, t)| (n.to_string(), t))
                        .collect()
                }
            }
            TableFn::Subscripts => vec![(name.to_string(), DataType::Int4)],
        }
    }

    /// How many columns its rows have.
    pub fn width(self) -> usize {
        match self {
            TableFn::Each { .. } | TableFn::ExpandArray { record: false } => 2,
            _ => 1,
        }
    }

    /// The rows for one call with the argument values `args`; none when
    /// a (strict) argument is NULL.
    pub fn rows(self, args: &[Value]) -> Result<Vec<Vec<Value>>> {
        match self {
            TableFn::RegexpMatches => crate::pattern::regexp_matches_rows(args),
            TableFn::RegexpSplit => crate::pattern::regexp_split_rows(args),
            TableFn::StringToTable => {
                // string_to_array's pieces, one a row.
                let pieces = crate::array::ArrayFn::FromString.eval(args)?;
                Ok(crate::array::unnest_rows(&pieces))
            }
            TableFn::Series(t) => series_rows(t, args, &TimeZone::UTC),
            TableFn::Ordinality => Err(Error::internal("ordinality outside ROWS FROM")),
            TableFn::ExpandArray { record } => Ok(expand_array_rows(record, args)),
            TableFn::Subscripts => Ok(subscript_rows(args)),
            _ => match args {
                [doc] => crate::json::table_rows(self, doc),
                _ => Err(Error::internal(format!(
                    "{self:?} called with {} arguments",
                    args.len()
                ))),
            },
        }
    }
}

/// `_pg_expandarray`'s rows: (element, position) for each element of a
/// non-NULL array, as two values or as one record.
fn expand_array_rows(record: bool, args: &[Value]) -> Vec<Vec<Value>> {
    let Some(Value::Array(a)) = args.first() else {
        return Vec::new();
    };
    let shape = RecordShape::ExpandArray(a.elem);
    a.items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let fields = vec![x.clone(), Value::Int4(i as i32 + 1)];
            if record {
                vec![Value::Record(Box::new(Record { shape, fields }))]
            } else {
                fields
            }
        })
        .collect()
}

/// `generate_subscripts(array, dim [, reverse])`: 1 to the length for
/// dimension 1, none for another dimension or a NULL argument.
fn subscript_rows(args: &[Value]) -> Vec<Vec<Value>> {
    let (Some(Value::Array(array)), Some(Value::Int4(1))) = (args.first(), args.get(1)) else {
        return Vec::new();
    };
    let reverse = match args.get(2) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Null) => return Vec::new(),
        _ => false,
    };
    // 1, or 0 for an int2vector or oidvector (the binder adds it).
    let lower = match args.get(3) {
        Some(Value::Int4(l)) => *l,
        _ => 1,
    };
    // Bounded by the array, which the query already holds.
    let n = array.items.len() as i32;
    let mut rows: Vec<Vec<Value>> = (lower..lower + n).map(|i| vec![Value::Int4(i)]).collect();
    if reverse {
        rows.reverse();
    }
    rows
}

fn series_too_long() -> Error {
    Error::new(
        sqlstate::PROGRAM_LIMIT_EXCEEDED,
        format!("generate_series would return more than {SERIES_ROWS_MAX} rows to one query"),
    )
}

/// `generate_series` as rows (beside other functions), bounded by
/// `SERIES_ROWS_MAX`.
fn series_rows(t: DataType, args: &[Value], zone: &TimeZone) -> Result<Vec<Vec<Value>>> {
    let mut rows = Vec::new();
    let Some(mut series) = Series::new(t, args, zone)? else {
        return Ok(rows);
    };
    while let Some(v) = series.next_value()? {
        if rows.len() >= SERIES_ROWS_MAX {
            return Err(series_too_long());
        }
        rows.push(vec![v]);
    }
    Ok(rows)
}

/// The values of one `generate_series(start, stop [, step])` call, one
/// at a time, as PostgreSQL 15 computes them: each value is the last plus
/// the step (so `'2020-01-31' + '1 month'` steps go Feb 29, Mar 29…), up
/// to and including `stop`; a NULL argument gives none; a zero step is
/// 22023, as are numeric NaN and infinite bounds. The next value is
/// computed only when it is asked for, so an overflow past the last one
/// a query reads is no error (PostgreSQL's order).
///
/// A timestamp series from or to an infinity makes no progress; PostgreSQL
/// runs it until the client or the disk gives up. Here it ends with
/// 54000 after `SERIES_ROWS_MAX` such rows.
pub struct Series {
    kind: SeriesKind,
    state: SeriesState,
    /// Rows given without progress (at an infinite timestamp).
    stuck_rows: usize,
}

enum SeriesKind {
    Int {
        int8: bool,
        stop: i64,
        step: i64,
    },
    Numeric {
        stop: Numeric,
        step: Numeric,
    },
    Timestamp {
        zone: Option<TimeZone>,
        stop: i64,
        step: Interval,
        ascending: bool,
    },
}

enum SeriesState {
    /// The first value, not yet given.
    Start(Value),
    /// The value given last.
    After(Value),
    Done,
}

impl Series {
    /// The series of `t` over the arguments (already of `t`, the step an
    /// interval for the timestamps and of `t` otherwise); `None` when an
    /// argument is NULL.
    pub fn new(t: DataType, args: &[Value], zone: &TimeZone) -> Result<Option<Series>> {
        let (start, stop, step) = match args {
            [start, stop] => (start, stop, None),
            [start, stop, step] => (start, stop, Some(step)),
            _ => return Err(Error::internal("generate_series arguments")),
        };
        if args.iter().any(Value::is_null) {
            return Ok(None);
        }
        let kind = match t {
            DataType::Int2 | DataType::Int4 | DataType::Int8 => {
                let int = |v: &Value| {
                    v.as_i64()
                        .ok_or_else(|| Error::internal("generate_series of a non-integer"))
                };
                let step = step.map(int).transpose()?.unwrap_or(1);
                if step == 0 {
                    return Err(zero_step());
                }
                SeriesKind::Int {
                    int8: t == DataType::Int8,
                    stop: int(stop)?,
                    step,
                }
            }
            DataType::Numeric(_) => {
                let num = |v: &Value, what: &str| -> Result<Numeric> {
                    let n = v.to_numeric()?;
                    let bad = |why: &str| {
                        Err(Error::new(
                            sqlstate::INVALID_PARAMETER_VALUE,
                            format!("{what} cannot be {why}"),
                        ))
                    };
                    match n {
                        _ if n.is_nan() => bad("NaN"),
                        _ if n.is_infinite() => bad("infinity"),
                        n => Ok(n),
                    }
                };
                num(start, "start value")?;
                let stop = num(stop, "stop value")?;
                let step = match step {
                    Some(s) => num(s, "step size")?,
                    None => Numeric::from_decimal(1.into()),
                };
                if step.is_zero() {
                    return Err(zero_step());
                }
                SeriesKind::Numeric { stop, step }
            }
            DataType::Timestamp(_) | DataType::TimestampTz(_) => {
                let ts = |v: &Value| match v {
                    Value::Timestamp(t) | Value::TimestampTz(t) => Ok(*t),
                    other => Err(Error::internal(format!(
                        "generate_series of {}",
                        other.data_type()
                    ))),
                };
                let step = match step {
                    Some(Value::Interval(i)) => *i,
                    _ => {
                        return Err(Error::internal(
                            "generate_series of timestamps needs a step",
                        ))
                    }
                };
                if step == Interval::ZERO {
                    return Err(zero_step());
                }
                ts(start)?;
                SeriesKind::Timestamp {
                    zone: matches!(t, DataType::TimestampTz(_)).then(|| zone.clone()),
                    stop: ts(stop)?,
                    step,
                    ascending: step > Interval::ZERO,
                }
            }
            other => {
                return Err(Error::internal(format!(
                    "generate_series over {}",
                    other.name()
                )))
            }
        };
        let start = match (&kind, start) {
            (SeriesKind::Int { int8: true, .. }, v) => Value::Int8(v.as_i64().unwrap_or(0)),
            (SeriesKind::Int { int8: false, .. }, v) => Value::Int4(v.as_i64().unwrap_or(0) as i32),
            (SeriesKind::Numeric { .. }, v) => Value::Numeric(v.to_numeric()?),
            (_, v) => v.clone(),
        };
        Ok(Some(Series {
            kind,
            state: SeriesState::Start(start),
            stuck_rows: 0,
        }))
    }

    /// The next value, or `None` past `stop`.
    pub fn next_value(&mut self) -> Result<Option<Value>> {
        let at = match std::mem::replace(&mut self.state, SeriesState::Done) {
            SeriesState::Done => return Ok(None),
            SeriesState::Start(v) => v,
            SeriesState::After(last) => match self.advance(&last)? {
                Some(v) => {
                    if v == last {
                        self.stuck_rows += 1;
                        if self.stuck_rows > SERIES_ROWS_MAX {
                            return Err(series_too_long());
                        }
                    }
                    v
                }
                None => return Ok(None),
            },
        };
        if !self.within(&at) {
            return Ok(None);
        }
        self.state = SeriesState::After(at.clone());
        Ok(Some(at))
    }

    /// `last` plus the step; `None` when an integer series would leave
    /// its type (it ends there, as PostgreSQL's does).
    fn advance(&self, last: &Value) -> Result<Option<Value>> {
        Ok(match (&self.kind, last) {
            (SeriesKind::Int { int8, step, .. }, v) => {
                let next = v.as_i64().and_then(|v| v.checked_add(*step));
                match (int8, next) {
                    (true, Some(n)) => Some(Value::Int8(n)),
                    (false, Some(n)) => i32::try_from(n).ok().map(Value::Int4),
                    (_, None) => None,
                }
            }
            (SeriesKind::Numeric { step, .. }, Value::Numeric(n)) => {
                Some(Value::Numeric(n.add(step)?))
            }
            (SeriesKind::Timestamp { step, .. }, Value::Timestamp(t)) => {
                Some(Value::Timestamp(ops::timestamp_plus_interval(*t, step)?))
            }
            (SeriesKind::Timestamp { zone, step, .. }, Value::TimestampTz(t)) => {
                let next = match zone {
                    Some(z) => ops::timestamptz_plus_interval(*t, step, z)?,
                    None => ops::timestamp_plus_interval(*t, step)?,
                };
                Some(Value::TimestampTz(next))
            }
            _ => return Err(Error::internal("generate_series value of another type")),
        })
    }

    /// Whether `v` has not passed `stop`.
    fn within(&self, v: &Value) -> bool {
        use std::cmp::Ordering::{Greater, Less};
        match (&self.kind, v) {
            (SeriesKind::Int { stop, step, .. }, v) => {
                let v = v.as_i64().unwrap_or(0);
                (*step > 0 && v <= *stop) || (*step < 0 && v >= *stop)
            }
            (SeriesKind::Numeric { stop, step }, Value::Numeric(n)) => {
                let order = n.cmp(stop);
                match step.is_negative() {
                    false => order != Greater,
                    true => order != Less,
                }
            }
            (
                SeriesKind::Timestamp {
                    stop, ascending, ..
                },
                Value::Timestamp(t) | Value::TimestampTz(t),
            ) => match ascending {
                true => t <= stop,
                false => t >= stop,
            },
            _ => false,
        }
    }
}

fn zero_step() -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        "step size cannot equal zero",
    )
}

/// The rows of the functions `calls` side by side (ROWS FROM): as many
/// as the longest gives, each function's columns NULL past its end.
pub fn rows_from(calls: &[(TableFn, Vec<Expr>)], params: &Params) -> Result<Vec<Vec<Value>>> {
    let mut each = Vec::with_capacity(calls.len());
    for (f, args) in calls {
        let values = args
            .iter()
            .map(|a| a.eval(&[], params))
            .collect::<Result<Vec<_>>>()?;
        let rows = match f {
            // Numbered below, once the longest is known.
            TableFn::Ordinality => Vec::new(),
            TableFn::Series(t) => series_rows(*t, &values, &params.time.zone)?,
            f => f.rows(&values)?,
        };
        each.push((*f, f.width(), rows));
    }
    if let [(f, _, _)] = each.as_slice() {
        if *f != TableFn::Ordinality {
            return Ok(each.pop().map(|(_, _, rows)| rows).unwrap_or_default());
        }
    }
    let longest = each
        .iter()
        .map(|(_, _, rows)| rows.len())
        .max()
        .unwrap_or(0);
    let width: usize = each.iter().map(|(_, w, _)| w).sum();
    let mut out = Vec::with_capacity(longest);
    for i in 0..longest {
        let mut row = Vec::with_capacity(width);
        for (f, w, rows) in &each {
            match rows.get(i) {
                _ if *f == TableFn::Ordinality => row.push(Value::Int8(i as i64 + 1)),
                Some(r) => {
                    assert_eq!(r.len(), *w, "a set-returning function's row width");
                    row.extend(r.iter().cloned());
                }
                None => row.extend(std::iter::repeat_n(Value::Null, *w)),
            }
        }
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.to_string())
    }

    fn lit(v: Value) -> Expr {
        Expr::Literal(v)
    }

    #[test]
    fn runs_functions_in_lockstep_padding_the_shorter() {
        let array = tessera_types::array::Array {
            elem: tessera_types::array::Elem::Int4,
            items: vec![Value::Int4(7)],
        };
        let calls = vec![
            (TableFn::Unnest, vec![lit(Value::Array(Box::new(array)))]),
            (
                TableFn::Series(DataType::Int4),
                vec![lit(Value::Int4(1)), lit(Value::Int4(3))],
            ),
        ];
        let rows = rows_from(&calls, &Params::default()).expect("rows");
        assert_eq!(
            rows,
            vec![
                vec![Value::Int4(7), Value::Int4(1)],
                vec![Value::Null, Value::Int4(2)],
                vec![Value::Null, Value::Int4(3)],
            ]
        );
    }

    #[test]
    fn gives_no_rows_when_every_function_gives_none() {
        let calls = vec![
            (TableFn::StringToTable, vec![lit(text("")), lit(text(","))]),
            (
                TableFn::RegexpMatches,
                vec![lit(text("abc")), lit(text("x"))],
            ),
        ];
        assert!(rows_from(&calls, &Params::default())
            .expect("rows")
            .is_empty());
    }

    #[test]
    fn regexp_matches_returns_every_match_only_with_g() {
        let args = |flags: &str| vec![text("a1b22"), text("([a-z])(\\d+)"), text(flags)];
        assert_eq!(
            TableFn::RegexpMatches.rows(&args("")).expect("rows").len(),
            1
        );
        assert_eq!(
            TableFn::RegexpMatches.rows(&args("g")).expect("rows").len(),
            2
        );
        let err = TableFn::RegexpMatches.rows(&args("gz")).unwrap_err();
        assert_eq!(err.code, sqlstate::INVALID_PARAMETER_VALUE);
        let err = TableFn::RegexpSplit.rows(&args("g")).unwrap_err();
        assert_eq!(err.code, sqlstate::INVALID_PARAMETER_VALUE);
        assert!(TableFn::RegexpMatches
            .rows(&[Value::Null, text("a")])
            .expect("rows")
            .is_empty());
    }

    #[test]
    fn a_zero_step_is_an_error_not_a_loop() {
        let utc = TimeZone::UTC;
        let int4 = [Value::Int4(1), Value::Int4(2), Value::Int4(0)];
        let err = series_rows(DataType::Int4, &int4, &utc).unwrap_err();
        assert_eq!(err.code, sqlstate::INVALID_PARAMETER_VALUE);
        let near_max = [Value::Int8(i64::MAX - 1), Value::Int8(i64::MAX)];
        let near_max = series_rows(DataType::Int8, &near_max, &utc);
        assert_eq!(near_max.expect("rows").len(), 2);
        let day = Value::Interval(Interval {
            months: 0,
            days: 1,
            micros: -86_400_000_000,
        });
        let ts = [Value::Timestamp(0), Value::Timestamp(1), day];
        let err = series_rows(DataType::Timestamp(None), &ts, &utc).unwrap_err();
        assert_eq!(err.code, sqlstate::INVALID_PARAMETER_VALUE);
    }

    #[test]
    fn a_series_stuck_at_infinity_ends_at_the_limit() {
        let step = Value::Interval(Interval {
            months: 0,
            days: 1,
            micros: 0,
        });
        let args = [
            Value::Timestamp(tessera_types::datetime::TIMESTAMP_NEG_INFINITY),
            Value::Timestamp(0),
            step,
        ];
        let mut series = Series::new(DataType::Timestamp(None), &args, &TimeZone::UTC)
            .expect("series")
            .expect("not null");
        let mut n = 0usize;
        let err = loop {
            match series.next_value() {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("an infinite series ended"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.code, sqlstate::PROGRAM_LIMIT_EXCEEDED);
        assert_eq!(n, SERIES_ROWS_MAX + 1);
    }
}
