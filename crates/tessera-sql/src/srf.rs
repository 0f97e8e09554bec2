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
    /// `generate_series(start, stop [, step])` over int4 or int8, when it
    /// runs beside other functions.
    Series { int8: bool },
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
            TableFn::Series { .. } => "generate_series",
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
            TableFn::Series { int8 } => vec![(
                name.to_string(),
                if int8 { DataType::Int8 } else { DataType::Int4 },
            )],
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
            TableFn::Series { int8 } => series_rows(int8, args),
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

/// `generate_series` over integers, as rows: none for a NULL argument,
/// 22023 for a zero step.
fn series_rows(int8: bool, args: &[Value]) -> Result<Vec<Vec<Value>>> {
    let mut ints = Vec::with_capacity(3);
    for a in args {
        match a {
            Value::Null => return Ok(Vec::new()),
            v => ints.push(
                v.as_i64()
                    .ok_or_else(|| Error::internal("generate_series of a non-integer"))?,
            ),
        }
    }
    let (start, stop, step) = match ints.as_slice() {
        [start, stop] => (*start, *stop, 1),
        [start, stop, step] => (*start, *stop, *step),
        _ => return Err(Error::internal("generate_series arguments")),
    };
    if step == 0 {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "step size cannot equal zero",
        ));
    }
    let mut rows = Vec::new();
    let mut at = Some(start);
    while let Some(v) = at.filter(|v| (step > 0 && *v <= stop) || (step < 0 && *v >= stop)) {
        if rows.len() >= SERIES_ROWS_MAX {
            return Err(series_too_long());
        }
        rows.push(vec![if int8 {
            Value::Int8(v)
        } else {
            Value::Int4(v as i32)
        }]);
        at = v.checked_add(step);
    }
    Ok(rows)
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
        each.push((f.width(), f.rows(&values)?));
    }
    if each.len() == 1 {
        return Ok(each.pop().map(|(_, rows)| rows).unwrap_or_default());
    }
    let longest = each.iter().map(|(_, rows)| rows.len()).max().unwrap_or(0);
    let width: usize = each.iter().map(|(w, _)| w).sum();
    let mut out = Vec::with_capacity(longest);
    for i in 0..longest {
        let mut row = Vec::with_capacity(width);
        for (w, rows) in &each {
            match rows.get(i) {
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
                TableFn::Series { int8: false },
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
        let err =
            series_rows(false, &[Value::Int4(1), Value::Int4(2), Value::Int4(0)]).unwrap_err();
        assert_eq!(err.code, sqlstate::INVALID_PARAMETER_VALUE);
        let near_max = series_rows(true, &[Value::Int8(i64::MAX - 1), Value::Int8(i64::MAX)]);
        assert_eq!(near_max.expect("rows").len(), 2);
    }
}
