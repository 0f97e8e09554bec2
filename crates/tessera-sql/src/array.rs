//! Array operators and functions, evaluated as PostgreSQL 15 does for
//! one-dimensional arrays with lower bound 1.

use std::cmp::Ordering;

use tessera_types::array::{Array, Elem};
use tessera_types::output::OutputStyle;
use tessera_types::{sqlstate, DataType, Error, Result, Value};

use crate::expr::BinaryOp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ArrayFn {
    /// `ARRAY[a, b, …]` of elements of this type.
    Construct(Elem),
    /// `a[i]`.
    Subscript,
    /// `a[i:j]` (either bound may be missing: the args are then NULL
    /// literals and `lower`/`upper` say which are given).
    Slice {
        lower: bool,
        upper: bool,
    },
    /// `x op ANY (array)` / `x op ALL (array)`.
    Quantified {
        op: BinaryOp,
        all: bool,
    },
    /// `array_length(a, dim)`, `array_upper(a, dim)`.
    Length,
    Upper,
    /// `array_lower(a, dim)`.
    Lower,
    Cardinality,
    Ndims,
    Dims,
    /// `array_position(a, x [, start])`.
    Position,
    /// `array_positions(a, x)`.
    Positions,
    Append,
    Prepend,
    /// `array_cat`, and `||` between two arrays.
    Cat,
    Remove,
    Replace,
    /// `array_to_string(a, delimiter [, null_string])`.
    ToString,
    /// `string_to_array(s, delimiter [, null_string])`.
    FromString,
    /// `@>`.
    Contains,
    /// `<@`.
    ContainedBy,
    /// `&&`.
    Overlaps,
    /// `trim_array(a, n)`: without its last `n` elements.
    Trim,
    /// `x [NOT] [I]LIKE ANY (patterns)`: whether any pattern of the text
    /// array (does not) match, with ANY's NULL rules.
    LikeAny {
        case_insensitive: bool,
        negated: bool,
    },
}

impl ArrayFn {
    /// The function called `name`, if it is one of these.
    pub fn named(name: &str) -> Option<ArrayFn> {
        Some(match name {
            "array_length" => ArrayFn::Length,
            "array_upper" => ArrayFn::Upper,
            "array_lower" => ArrayFn::Lower,
            "cardinality" => ArrayFn::Cardinality,
            "array_ndims" => ArrayFn::Ndims,
            "array_dims" => ArrayFn::Dims,
            "array_position" => ArrayFn::Position,
            "array_positions" => ArrayFn::Positions,
            "array_append" => ArrayFn::Append,
            "array_prepend" => ArrayFn::Prepend,
            "array_cat" => ArrayFn::Cat,
            "array_remove" => ArrayFn::Remove,
            "array_replace" => ArrayFn::Replace,
            "array_to_string" => ArrayFn::ToString,
            "string_to_array" => ArrayFn::FromString,
            "trim_array" => ArrayFn::Trim,
            _ => return None,
        })
    }

    /// Runs the function with the default output style; see
    /// [`ArrayFn::eval_in`].
    pub fn eval(self, args: &[Value]) -> Result<Value> {
        self.eval_in(args, &OutputStyle::DEFAULT)
    }

    /// Runs the function; `array_to_string` writes the elements in the
    /// session's `style`, as PostgreSQL's output functions do.
    pub fn eval_in(self, args: &[Value], style: &OutputStyle) -> Result<Value> {
        use ArrayFn as F;
        match (self, args) {
            (F::Construct(elem), items) => Ok(array(elem, items.to_vec())),
            (F::Quantified { op, all }, [x, a]) => quantified(op, all, x, a),
            (
                F::LikeAny {
                    case_insensitive,
                    negated,
                },
                [x, a],
            ) => {
                let (Value::Text(x), Value::Array(a)) = (x, a) else {
                    return Ok(Value::Null);
                };
                let x = if case_insensitive {
                    crate::text::lower(x)
                } else {
                    x.clone()
                };
                let mut saw_null = false;
                for p in &a.items {
                    let Value::Text(p) = p else {
                        saw_null = true;
                        continue;
                    };
                    let matched = match case_insensitive {
                        true => crate::expr::like(&x, &crate::text::lower(p)),
                        false => crate::expr::like(&x, p),
                    };
                    if matched != negated {
                        return Ok(Value::Bool(true));
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(false)
                })
            }
            // Not strict: NULL elements and arguments have their own rules.
            (F::Position, [Value::Array(a), x, rest @ ..]) => {
                let start = match rest.first() {
                    Some(Value::Null) => return Ok(Value::Null),
                    Some(v) => v.as_i64().unwrap_or(1).max(1) as usize,
                    None => 1,
                };
                Ok(a.items
                    .iter()
                    .enumerate()
                    .skip(start - 1)
                    .find(|(_, v)| not_distinct(v, x))
                    .map_or(Value::Null, |(i, _)| Value::Int4(i as i32 + 1)))
            }
            (F::Positions, [Value::Array(a), x]) => Ok(array(
                Elem::Int4,
                a.items
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| not_distinct(v, x))
                    .map(|(i, _)| Value::Int4(i as i32 + 1))
                    .collect(),
            )),
            (F::Append, [Value::Array(a), x]) => {
                let mut items = a.items.clone();
                items.push(x.clone());
                Ok(array(a.elem, items))
            }
            (F::Append, [Value::Null, x]) => Ok(array(elem_of(x)?, vec![x.clone()])),
            (F::Prepend, [x, Value::Array(a)]) => {
                let mut items = vec![x.clone()];
                items.extend(a.items.iter().cloned());
                Ok(array(a.elem, items))
            }
            (F::Prepend, [x, Value::Null]) => Ok(array(elem_of(x)?, vec![x.clone()])),
            (F::Cat, [Value::Array(a), Value::Array(b)]) => {
                let mut items = a.items.clone();
                items.extend(b.items.iter().cloned());
                Ok(array(a.elem, items))
            }
            (F::Trim, [Value::Array(a), Value::Int4(n)]) => {
                let len = a.items.len();
                let keep = usize::try_from(*n)
                    .ok()
                    .and_then(|n| len.checked_sub(n))
                    .ok_or_else(|| {
                        Error::new(
                            sqlstate::ARRAY_SUBSCRIPT_ERROR,
                            format!("number of elements to trim must be between 0 and {len}"),
                        )
                    })?;
                Ok(array(a.elem, a.items[..keep].to_vec()))
            }
            (F::Trim, [_, _]) => Ok(Value::Null),
            (F::Cat, [a @ Value::Array(_), Value::Null]) => Ok(a.clone()),
            (F::Cat, [Value::Null, b]) => Ok(b.clone()),
            (F::Remove, [Value::Array(a), x]) => Ok(array(
                a.elem,
                a.items
                    .iter()
                    .filter(|v| !not_distinct(v, x))
                    .cloned()
                    .collect(),
            )),
            (F::Replace, [Value::Array(a), from, to]) => Ok(array(
                a.elem,
                a.items
                    .iter()
                    .map(|v| match not_distinct(v, from) {
                        true => to.clone(),
                        false => v.clone(),
                    })
                    .collect(),
            )),
            (F::ToString, [Value::Array(a), delimiter, rest @ ..]) => {
                if delimiter.is_null() {
                    return Ok(Value::Null);
                }
                let null_text = match rest.first() {
                    Some(Value::Null) | None => None,
                    Some(v) => Some(text(v)),
                };
                let delimiter = text(delimiter);
                let mut out = String::new();
                let mut first = true;
                for v in &a.items {
                    let piece = match (v, &null_text) {
                        (Value::Null, None) => continue,
                        (Value::Null, Some(n)) => n.clone(),
                        (v, _) => text_in(v, style),
                    };
                    if !first {
                        out.push_str(&delimiter);
                    }
                    first = false;
                    out.push_str(&piece);
                }
                Ok(Value::Text(out))
            }
            (F::FromString, [s, delimiter, rest @ ..]) => {
                if s.is_null() {
                    return Ok(Value::Null);
                }
                let s = text(s);
                let null_text = match rest.first() {
                    Some(Value::Null) | None => None,
                    Some(v) => Some(text(v)),
                };
                let pieces: Vec<String> = match delimiter {
                    _ if s.is_empty() => vec![],
                    Value::Null => s.chars().map(String::from).collect(),
                    d => {
                        let d = text(d);
                        match d.is_empty() {
                            true => vec![s],
                            false => s.split(d.as_str()).map(str::to_string).collect(),
                        }
                    }
                };
                Ok(array(
                    Elem::Text,
                    pieces
                        .into_iter()
                        .map(|p| match &null_text {
                            Some(n) if *n == p => Value::Null,
                            _ => Value::Text(p),
                        })
                        .collect(),
                ))
            }
            // A missing slice bound is given as NULL.
            (F::Slice { lower, upper }, [Value::Array(a), lo, hi])
                if (lower || lo.is_null()) && (upper || hi.is_null()) =>
            {
                if (lower && lo.is_null()) || (upper && hi.is_null()) {
                    return Ok(Value::Null);
                }
                let n = a.items.len() as i64;
                let lo = if lower {
                    lo.as_i64().unwrap_or(1).max(1)
                } else {
                    1
                };
                let hi = if upper {
                    hi.as_i64().unwrap_or(n).min(n)
                } else {
                    n
                };
                let items = match lo <= hi {
                    true => a.items[(lo - 1) as usize..hi as usize].to_vec(),
                    false => vec![],
                };
                Ok(array(a.elem, items))
            }
            // The rest are strict.
            (_, args) if args.iter().any(Value::is_null) => Ok(Value::Null),
            (F::Subscript, [Value::Array(a), i]) => {
                let i = i.as_i64().unwrap_or(0);
                Ok(usize::try_from(i - 1)
                    .ok()
                    .and_then(|i| a.items.get(i))
                    .cloned()
                    .unwrap_or(Value::Null))
            }
            (F::Length | F::Upper, [Value::Array(a), dim]) => Ok(match dim.as_i64() {
                Some(1) if !a.items.is_empty() => Value::Int4(a.items.len() as i32),
                _ => Value::Null,
            }),
            (F::Lower, [Value::Array(a), dim]) => Ok(match dim.as_i64() {
                Some(1) if !a.items.is_empty() => Value::Int4(1),
                _ => Value::Null,
            }),
            (F::Cardinality, [Value::Array(a)]) => Ok(Value::Int4(a.items.len() as i32)),
            (F::Ndims, [Value::Array(a)]) => Ok(match a.items.is_empty() {
                true => Value::Null,
                false => Value::Int4(1),
            }),
            (F::Dims, [Value::Array(a)]) => Ok(match a.items.is_empty() {
                true => Value::Null,
                false => Value::Text(format!("[1:{}]", a.items.len())),
            }),
            (F::Contains, [Value::Array(a), Value::Array(b)]) => Ok(Value::Bool(contains(a, b))),
            (F::ContainedBy, [Value::Array(a), Value::Array(b)]) => Ok(Value::Bool(contains(b, a))),
            (F::Overlaps, [Value::Array(a), Value::Array(b)]) => {
                Ok(Value::Bool(a.items.iter().any(|x| {
                    !x.is_null() && b.items.iter().any(|y| !y.is_null() && x == y)
                })))
            }
            _ => Err(Error::internal(format!(
                "{self:?} called with {} arguments",
                args.len()
            ))),
        }
    }
}

fn array(elem: Elem, items: Vec<Value>) -> Value {
    Value::Array(Box::new(Array { elem, items }))
}

fn elem_of(v: &Value) -> Result<Elem> {
    Elem::of(v.data_type()).ok_or_else(|| Error::internal("an array of an unknown type"))
}

fn text(v: &Value) -> String {
    text_in(v, &OutputStyle::DEFAULT)
}

fn text_in(v: &Value, style: &OutputStyle) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::BpChar(s) => tessera_types::value::trim_blanks(s).to_string(),
        Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
        other => other.to_text_in(style).unwrap_or_default(),
    }
}

/// `IS NOT DISTINCT FROM`: NULL matches NULL.
fn not_distinct(a: &Value, b: &Value) -> bool {
    match (a.is_null(), b.is_null()) {
        (true, true) => true,
        (false, false) => a.compare(b) == Ordering::Equal,
        _ => false,
    }
}

/// `@>` on arrays: every element of `b` is in `a` (NULL elements never
/// match).
fn contains(a: &Array, b: &Array) -> bool {
    b.items
        .iter()
        .all(|y| !y.is_null() && a.items.iter().any(|x| !x.is_null() && x == y))
}

/// `x op ANY/ALL (a)` with SQL's three-valued logic: ANY is true when
/// some comparison is, else NULL when some was NULL, else false (ALL the
/// other way round).
fn quantified(op: BinaryOp, all: bool, x: &Value, a: &Value) -> Result<Value> {
    let Value::Array(a) = a else {
        return Ok(Value::Null);
    };
    if a.items.is_empty() {
        return Ok(Value::Bool(all));
    }
    let mut saw_null = false;
    for v in &a.items {
        if x.is_null() || v.is_null() {
            saw_null = true;
            continue;
        }
        let r = crate::expr::binary(op, x.clone(), v.clone())?;
        match r.as_bool() {
            Some(true) if !all => return Ok(Value::Bool(true)),
            Some(false) if all => return Ok(Value::Bool(false)),
            None => saw_null = true,
            _ => {}
        }
    }
    Ok(match saw_null {
        true => Value::Null,
        false => Value::Bool(all),
    })
}

/// The result type of `f` over arguments of `types` and the types the
/// arguments are cast to, or `None` when no overload takes them.
pub fn signature(f: ArrayFn, types: &[DataType]) -> Option<(Vec<Option<DataType>>, DataType)> {
    use ArrayFn as F;
    use DataType as T;
    let arr = |t: DataType| matches!(t, T::Array(_));
    let int = |t: DataType| (t.is_integer() || t == T::Unknown).then_some(T::Int4);
    let text = |t: DataType| (t.is_string() || t == T::Unknown).then_some(T::Text);
    // The element type of an array argument, for its companion value.
    let elem = |t: DataType| match t {
        T::Array(e) => Some(e.data_type()),
        _ => None,
    };
    Some(match (f, types) {
        (F::Length | F::Upper | F::Lower, [a, d]) if arr(*a) => {
            (vec![None, Some(int(*d)?)], T::Int4)
        }
        (F::Cardinality | F::Ndims, [a]) if arr(*a) => (vec![None], T::Int4),
        (F::Dims, [a]) if arr(*a) => (vec![None], T::Text),
        (F::Position, [a, _]) if arr(*a) => (vec![None, elem(*a)], T::Int4),
        (F::Position, [a, _, s]) if arr(*a) => (vec![None, elem(*a), Some(int(*s)?)], T::Int4),
        (F::Positions, [a, _]) if arr(*a) => (vec![None, elem(*a)], T::Array(Elem::Int4)),
        (F::Append, [a, _]) if arr(*a) => (vec![None, elem(*a)], *a),
        (F::Prepend, [_, a]) if arr(*a) => (vec![elem(*a), None], *a),
        (F::Cat, [a, b]) if arr(*a) && (*b == *a || *b == T::Unknown) => (vec![None, Some(*a)], *a),
        (F::Cat, [T::Unknown, b]) if arr(*b) => (vec![Some(*b), None], *b),
        (F::Remove, [a, _]) if arr(*a) => (vec![None, elem(*a)], *a),
        (F::Trim, [a, n]) if arr(*a) => (vec![None, Some(int(*n)?)], *a),
        (F::LikeAny { .. }, [x, a])
            if (x.is_string() || *x == T::Unknown)
                && matches!(a, T::Unknown | T::Array(Elem::Text | Elem::Varchar)) =>
        {
            (vec![Some(T::Text), Some(T::Array(Elem::Text))], T::Bool)
        }
        (F::Replace, [a, _, _]) if arr(*a) => (vec![None, elem(*a), elem(*a)], *a),
        (F::ToString, [a, d]) if arr(*a) => (vec![None, Some(text(*d)?)], T::Text),
        (F::ToString, [a, d, n]) if arr(*a) => {
            (vec![None, Some(text(*d)?), Some(text(*n)?)], T::Text)
        }
        (F::FromString, [s, d]) => (vec![Some(text(*s)?), Some(text(*d)?)], T::Array(Elem::Text)),
        (F::FromString, [s, d, n]) => (
            vec![Some(text(*s)?), Some(text(*d)?), Some(text(*n)?)],
            T::Array(Elem::Text),
        ),
        (F::Contains | F::ContainedBy | F::Overlaps, [a, b])
            if arr(*a) && (*b == *a || *b == T::Unknown) =>
        {
            (vec![None, Some(*a)], T::Bool)
        }
        (F::Contains | F::ContainedBy | F::Overlaps, [T::Unknown, b]) if arr(*b) => {
            (vec![Some(*b), None], T::Bool)
        }
        _ => return None,
    })
}

/// `unnest(array)` in FROM: one row per element.
pub fn unnest_rows(a: &Value) -> Vec<Vec<Value>> {
    match a {
        Value::Array(a) => a.items.iter().map(|v| vec![v.clone()]).collect(),
        _ => vec![],
    }
}
