//! `json` and `jsonb` operators and functions, and the `uuid` and `bytea`
//! functions that come with those types, evaluated as PostgreSQL 15 does.
//!
//! Operators on `json` read the text as given: `->` returns the member's
//! text exactly as it was written (spacing included), as PostgreSQL's json
//! operators do; on `jsonb` they read the decomposed value.

use crate::srf::TableFn;
use tessera_types::json::{self, Jsonb};
use tessera_types::output::OutputStyle;
use tessera_types::{sqlstate, DataType, Error, Result, Value};

/// A JSON, uuid or bytea operator or function; which of json and jsonb it
/// works on is told by its argument values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JsonFn {
    /// `->`: a member by key (text) or element by index (integer).
    Get,
    /// `->>`: the same, as text.
    GetText,
    /// `#>`: the value at a path (`'{a,0,b}'`).
    Path,
    /// `#>>`: the same, as text.
    PathText,
    /// `@>`.
    Contains,
    /// `<@`.
    ContainedBy,
    /// `?`.
    HasKey,
    /// `?|` / `?&` with a text[] of keys.
    HasAny,
    HasAll,
    /// jsonb `||`.
    Concat,
    /// jsonb `-` text (a key, or string elements), text[] (several) or
    /// integer (an element).
    Delete,
    /// `jsonb_set(target, path, new [, create_missing])`.
    Set,
    /// `jsonb_insert(target, path, new [, insert_after])`.
    Insert,
    /// `#-` and `jsonb_delete_path`: the value at a path removed.
    DeletePath,
    /// bytea `||`.
    ByteaConcat,
    /// `json_build_object` (false) / `jsonb_build_object` (true).
    BuildObject(bool),
    BuildArray(bool),
    /// `to_json` / `to_jsonb`.
    To(bool),
    /// A whole row as an object (`to_jsonb(t)`, `row_to_json(t)`,
    /// `json_agg(t)`): the arguments alternate column names and values.
    RowObject(bool),
    /// `row_to_json(record [, pretty])`: a record (or the json of a whole
    /// row, see `RowObject`) as an object, its top-level members on lines
    /// of their own when `pretty`.
    RowToJson,
    Typeof,
    ArrayLength,
    /// `json_strip_nulls` (false) / `jsonb_strip_nulls` (true).
    StripNulls(bool),
    Pretty,
    ExtractPath,
    ExtractPathText,
    GenRandomUuid,
    Encode,
    Decode,
    OctetLength,
    /// A bytea function (see [`crate::bytea`]).
    Bytea(crate::bytea::ByteaFn),
    /// What `json[b]_to_record[set]` reads its columns from (see the
    /// binder's `json_to_record_item`): the document (or one element of
    /// it, `set`) when it is an object or NULL, else PostgreSQL's 22023.
    RecordDoc {
        set: bool,
        binary: bool,
    },
}

/// The hidden name of [`JsonFn::RecordDoc`] for the function `name`
/// (`jsonb_to_recordset`…), which only the binder's rewrite calls.
pub fn record_doc_name(name: &str) -> String {
    format!("?{name} doc?")
}

impl JsonFn {
    /// The function called `name`, if it is one of these.
    pub fn named(name: &str) -> Option<JsonFn> {
        Some(match name {
            "json_build_object" => JsonFn::BuildObject(false),
            "jsonb_build_object" => JsonFn::BuildObject(true),
            "json_build_array" => JsonFn::BuildArray(false),
            "jsonb_build_array" => JsonFn::BuildArray(true),
            "to_json" => JsonFn::To(false),
            "to_jsonb" => JsonFn::To(true),
            "json_typeof" | "jsonb_typeof" => JsonFn::Typeof,
            "json_array_length" | "jsonb_array_length" => JsonFn::ArrayLength,
            "json_strip_nulls" => JsonFn::StripNulls(false),
            "jsonb_strip_nulls" => JsonFn::StripNulls(true),
            "jsonb_pretty" => JsonFn::Pretty,
            "json_extract_path" | "jsonb_extract_path" => JsonFn::ExtractPath,
            "json_extract_path_text" | "jsonb_extract_path_text" => JsonFn::ExtractPathText,
            "jsonb_set" => JsonFn::Set,
            "jsonb_insert" => JsonFn::Insert,
            "jsonb_delete_path" => JsonFn::DeletePath,
            "gen_random_uuid" => JsonFn::GenRandomUuid,
            "encode" => JsonFn::Encode,
            "decode" => JsonFn::Decode,
            "octet_length" => JsonFn::OctetLength,
            "?json_to_record doc?" => JsonFn::RecordDoc {
                set: false,
                binary: false,
            },
            "?jsonb_to_record doc?" => JsonFn::RecordDoc {
                set: false,
                binary: true,
            },
            "?json_to_recordset doc?" => JsonFn::RecordDoc {
                set: true,
                binary: false,
            },
            "?jsonb_to_recordset doc?" => JsonFn::RecordDoc {
                set: true,
                binary: true,
            },
            _ => return None,
        })
    }

    /// Whether it must run for each row even with constant arguments.
    pub fn is_volatile(self) -> bool {
        self == JsonFn::GenRandomUuid
    }

    /// Runs the function with the default output style; see
    /// [`JsonFn::eval_in`].
    pub fn eval(self, args: &[Value]) -> Result<Value> {
        self.eval_in(args, &OutputStyle::DEFAULT)
    }

    /// Runs the function; values turned into JSON strings are written in
    /// the session's `style` (intervals, floats, the zone of a
    /// `timestamptz`), dates and timestamps always in ISO 8601, as
    /// PostgreSQL's `datum_to_json` writes them.
    pub fn eval_in(self, args: &[Value], style: &OutputStyle) -> Result<Value> {
        use JsonFn as F;
        // Strict functions: NULL in, NULL out.
        let strict = !matches!(
            self,
            F::BuildObject(_) | F::BuildArray(_) | F::To(_) | F::RowObject(_)
        );
        if strict && args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        match (self, args) {
            (F::Get | F::GetText, [doc, key]) => {
                let text = self == F::GetText;
                let step = step_of(key);
                get_path(doc, std::slice::from_ref(&step), text)
            }
            (F::Path | F::PathText, [doc, path]) => {
                let steps = parse_path(&text_of(path))?;
                get_path(doc, &steps, self == F::PathText)
            }
            (F::ExtractPath | F::ExtractPathText, [doc, keys @ ..]) => {
                let steps: Vec<Step> = keys.iter().map(|k| Step::Key(text_of(k))).collect();
                get_path(doc, &steps, self == F::ExtractPathText)
            }
            (F::Contains, [a, b]) => Ok(Value::Bool(jsonb_of(a)?.contains(&jsonb_of(b)?))),
            (F::ContainedBy, [a, b]) => Ok(Value::Bool(jsonb_of(b)?.contains(&jsonb_of(a)?))),
            (F::HasKey, [a, key]) => Ok(Value::Bool(jsonb_of(a)?.has_key(&text_of(key)))),
            (F::HasAny | F::HasAll, [a, Value::Array(keys)]) => {
                let j = jsonb_of(a)?;
                let mut keys = keys.items.iter().filter(|k| !k.is_null());
                Ok(Value::Bool(match self {
                    F::HasAny => keys.any(|k| j.has_key(&text_of(k))),
                    _ => keys.all(|k| j.has_key(&text_of(k))),
                }))
            }
            (F::Concat, [a, b]) => Ok(jsonb_value(concat(jsonb_of(a)?, jsonb_of(b)?))),
            (F::Delete, [a, what]) => delete(jsonb_of(a)?, what).map(jsonb_value),
            (F::Set | F::Insert, [target, path, new, rest @ ..]) => {
                let flag = matches!(rest.first(), Some(Value::Bool(true)));
                // create_missing defaults to true, insert_after to false.
                let op = match (self, flag || rest.is_empty()) {
                    (F::Set, true) => PathOp::Create,
                    (F::Set, false) => PathOp::Replace,
                    (_, _) if flag => PathOp::InsertAfter,
                    (_, _) => PathOp::InsertBefore,
                };
                let new = jsonb_of(new)?;
                edit_path(jsonb_of(target)?, path, Some(new), op).map(jsonb_value)
            }
            (F::DeletePath, [target, path]) => {
                edit_path(jsonb_of(target)?, path, None, PathOp::Delete).map(jsonb_value)
            }
            (F::ByteaConcat, [Value::Bytea(a), Value::Bytea(b)]) => {
                let mut out = Vec::with_capacity(a.len() + b.len());
                out.extend_from_slice(a);
                out.extend_from_slice(b);
                Ok(Value::Bytea(out))
            }
            (F::BuildObject(binary), args) => build_object(args, binary, style),
            (F::RowObject(binary), args) => row_object(args, binary, style),
            (F::BuildArray(true), args) => {
                let items = args
                    .iter()
                    .map(|v| to_jsonb_in(v, style))
                    .collect::<Result<Vec<_>>>()?;
                Ok(jsonb_value(Jsonb::Array(items)))
            }
            (F::BuildArray(false), args) => {
                // `[a, b]`, each element as json writes it (arrays and
                // records compact, json as given).
                let mut out = String::from("[");
                for (i, v) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_json_element_in(v, &mut out, style)?;
                }
                out.push(']');
                Ok(Value::Json(out))
            }
            (F::RowToJson, [v, pretty @ ..]) => {
                let mut out = String::new();
                match v {
                    Value::Json(text) => out.push_str(text),
                    Value::Record(r) => write_record(r, &mut out, style)?,
                    other => {
                        return Err(Error::internal(format!(
                            "row_to_json of {}",
                            other.data_type()
                        )))
                    }
                }
                if let [Value::Bool(true)] = pretty {
                    out = pretty_row(&out);
                }
                Ok(Value::Json(out))
            }
            (F::To(_), [Value::Null]) => Ok(Value::Null),
            (F::To(true), [v]) => Ok(jsonb_value(to_jsonb_in(v, style)?)),
            // As PostgreSQL's datum_to_json: json as given, SQL arrays
            // and records compact.
            (F::To(false), [v]) => {
                let mut out = String::new();
                write_json_element_in(v, &mut out, style)?;
                Ok(Value::Json(out))
            }
            (F::Typeof, [v]) => Ok(Value::Text(jsonb_of(v)?.type_name().to_string())),
            (F::ArrayLength, [v]) => match jsonb_of(v)? {
                Jsonb::Array(items) => Ok(Value::Int4(items.len() as i32)),
                other => Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    match other.is_scalar() {
                        true => "cannot get array length of a scalar",
                        false => "cannot get array length of a non-array",
                    },
                )),
            },
            (F::StripNulls(_), [Value::Json(text)]) => {
                let mut out = String::with_capacity(text.len());
                strip_json_nulls(text, &mut out)?;
                Ok(Value::Json(out))
            }
            (F::StripNulls(_), [v]) => Ok(jsonb_value(strip_nulls(jsonb_of(v)?))),
            (F::Pretty, [v]) => {
                let mut out = String::new();
                pretty(&jsonb_of(v)?, 0, &mut out);
                Ok(Value::Text(out))
            }
            (F::GenRandomUuid, []) => Ok(Value::Uuid(random_uuid())),
            (F::Encode, [Value::Bytea(b), format]) => encode(b, &text_of(format)),
            (F::Decode, [s, format]) => decode(&text_of(s), &text_of(format)),
            (F::Bytea(f), args) => f.eval(args),
            (F::RecordDoc { set, binary }, [v]) => {
                let message = match (set, jsonb_of(v)?) {
                    (_, Jsonb::Object(_)) => return Ok(v.clone()),
                    (true, _) => format!(
                        "argument of {}_to_recordset must be an array of objects",
                        if binary { "jsonb" } else { "json" }
                    ),
                    (false, Jsonb::Array(_)) => "cannot call populate_composite on an array".into(),
                    (false, _) => "cannot call populate_composite on a scalar".into(),
                };
                Err(Error::new(sqlstate::INVALID_PARAMETER_VALUE, message))
            }
            (F::OctetLength, [Value::Bytea(b)]) => Ok(Value::Int4(b.len() as i32)),
            (F::OctetLength, [v]) => Ok(Value::Int4(text_of(v).len() as i32)),
            _ => Err(Error::internal(format!(
                "{self:?} called with {} arguments",
                args.len()
            ))),
        }
    }
}

/// `json_strip_nulls` of json text, as PostgreSQL re-emits its tokens:
/// members in their order (duplicates kept), no blanks, strings
/// re-escaped, numbers as written; object members whose value is null
/// left out, at every depth (array elements stay).
fn strip_json_nulls(text: &str, out: &mut String) -> Result<()> {
    match json::members(text)? {
        json::Members::Object(pairs) => {
            out.push('{');
            let mut first = true;
            for (key, range) in pairs {
                let value = text[range].trim();
                if value == "null" {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                json::write_string(out, &key);
                out.push(':');
                strip_json_nulls(value, out)?;
            }
            out.push('}');
        }
        json::Members::Array(items) => {
            out.push('[');
            for (i, range) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                strip_json_nulls(text[range].trim(), out)?;
            }
            out.push(']');
        }
        json::Members::Scalar => match json::parse(text)? {
            Jsonb::String(s) => json::write_string(out, &s),
            _ => out.push_str(text.trim()),
        },
    }
    Ok(())
}

fn jsonb_value(j: Jsonb) -> Value {
    Value::Jsonb(Box::new(j))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Text(s) | Value::BpChar(s) => s.clone(),
        other => other.to_text().unwrap_or_default(),
    }
}

/// A json or jsonb argument as jsonb.
fn jsonb_of(v: &Value) -> Result<Jsonb> {
    match v {
        Value::Jsonb(j) => Ok((**j).clone()),
        Value::Json(s) => json::parse(s),
        Value::Text(s) => json::parse(s),
        other => Err(Error::internal(format!(
            "{} given as json",
            other.data_type()
        ))),
    }
}

/// One step of a path: an object key, or an array index (a key that
/// reads as an integer also indexes arrays, as in PostgreSQL's paths).
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(i64),
}

fn step_of(v: &Value) -> Step {
    match v.as_i64() {
        Some(i) => Step::Index(i),
        None => Step::Key(text_of(v)),
    }
}

/// `'{a,b,0}'`: a text[] literal of path steps (Tessera has no arrays yet,
/// so the path travels as its text).
fn parse_path(text: &str) -> Result<Vec<Step>> {
    let bad = || {
        Error::new(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            format!("malformed array literal: \"{text}\""),
        )
    };
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(bad)?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut steps = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => item.push(chars.next().ok_or_else(bad)?),
                    Some(c) => item.push(c),
                    None => return Err(bad()),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if matches!(c, '{' | '}' | '"') {
                    return Err(bad());
                }
                item.push(c);
                chars.next();
            }
            item = item.trim_end().to_string();
            if item.is_empty() {
                return Err(bad());
            }
        }
        steps.push(Step::Key(item));
        match chars.next() {
            Some(',') => continue,
            None => return Ok(steps),
            Some(_) => return Err(bad()),
        }
    }
}

/// The value at `steps` in a json or jsonb document: NULL where the path
/// leads nowhere; as text for `->>`/`#>>` (a JSON null is SQL NULL then).
fn get_path(doc: &Value, steps: &[Step], as_text: bool) -> Result<Value> {
    if let Value::Json(text) = doc {
        let mut slice: &str = text;
        for step in steps {
            match member_span(slice, step)? {
                Some(s) => slice = s,
                None => return Ok(Value::Null),
            }
        }
        if !as_text {
            return Ok(Value::Json(slice.to_string()));
        }
        let value = json::parse(slice)?;
        return Ok(match value {
            Jsonb::Null => Value::Null,
            Jsonb::String(s) => Value::Text(s),
            // Text as written, not as jsonb would print it.
            _ => Value::Text(slice.to_string()),
        });
    }
    let root = jsonb_of(doc)?;
    let mut at = &root;
    for step in steps {
        let next = match (at, step) {
            (Jsonb::Object(_), Step::Key(k)) => at.get(k),
            (Jsonb::Object(_), Step::Index(i)) => at.get(&i.to_string()),
            (Jsonb::Array(_), Step::Index(i)) => at.index(*i),
            (Jsonb::Array(_), Step::Key(k)) => {
                k.trim().parse::<i64>().ok().and_then(|i| at.index(i))
            }
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None => return Ok(Value::Null),
        }
    }
    Ok(match as_text {
        true => at.as_text().map_or(Value::Null, Value::Text),
        false => jsonb_value(at.clone()),
    })
}

/// The text of the member `step` names in the JSON text `text`, as
/// written.
fn member_span<'t>(text: &'t str, step: &Step) -> Result<Option<&'t str>> {
    let members = json::members(text)?;
    Ok(match (members, step) {
        (json::Members::Object(pairs), Step::Key(k)) => pairs
            .into_iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, s)| &text[s]),
        (json::Members::Object(pairs), Step::Index(i)) => {
            let k = i.to_string();
            pairs
                .into_iter()
                .rev()
                .find(|(key, _)| *key == k)
                .map(|(_, s)| &text[s])
        }
        (json::Members::Array(items), step) => {
            let i = match step {
                Step::Index(i) => Some(*i),
                Step::Key(k) => k.trim().parse().ok(),
            };
            i.and_then(|i| {
                let n = items.len() as i64;
                let i = if i < 0 { n + i } else { i };
                usize::try_from(i).ok().and_then(|i| items.get(i).cloned())
            })
            .map(|s| &text[s])
        }
        _ => None,
    })
}

/// jsonb `||`: arrays concatenate (a non-array side becomes one element),
/// objects merge with the right side's keys winning.
fn concat(a: Jsonb, b: Jsonb) -> Jsonb {
    match (a, b) {
        (Jsonb::Object(mut x), Jsonb::Object(y)) => {
            x.extend(y);
            Jsonb::Object(json::normalize_object(x))
        }
        (Jsonb::Array(mut x), Jsonb::Array(y)) => {
            x.extend(y);
            Jsonb::Array(x)
        }
        (Jsonb::Array(mut x), y) => {
            x.push(y);
            Jsonb::Array(x)
        }
        (x, Jsonb::Array(y)) => {
            let mut out = vec![x];
            out.extend(y);
            Jsonb::Array(out)
        }
        (x, y) => Jsonb::Array(vec![x, y]),
    }
}

/// jsonb `-`: a key from an object or matching strings from an array
/// (text), or an element by index (integer).
fn delete(a: Jsonb, what: &Value) -> Result<Jsonb> {
    let scalar = || {
        Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "cannot delete from scalar",
        )
    };
    if let Value::Array(keys) = what {
        let keys: Vec<String> = keys
            .items
            .iter()
            .filter(|k| !k.is_null())
            .map(text_of)
            .collect();
        return match a {
            Jsonb::Object(mut pairs) => {
                pairs.retain(|(k, _)| !keys.contains(k));
                Ok(Jsonb::Object(pairs))
            }
            Jsonb::Array(mut items) => {
                items.retain(|v| !matches!(v, Jsonb::String(s) if keys.contains(s)));
                Ok(Jsonb::Array(items))
            }
            _ => Err(scalar()),
        };
    }
    match what.as_i64() {
        Some(i) => match a {
            Jsonb::Array(mut items) => {
                let n = items.len() as i64;
                let at = if i < 0 { n + i } else { i };
                if (0..n).contains(&at) {
                    items.remove(at as usize);
                }
                Ok(Jsonb::Array(items))
            }
            Jsonb::Object(_) => Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                "cannot delete from object using integer index",
            )),
            _ => Err(scalar()),
        },
        None => {
            let key = text_of(what);
            match a {
                Jsonb::Object(mut pairs) => {
                    pairs.retain(|(k, _)| *k != key);
                    Ok(Jsonb::Object(pairs))
                }
                Jsonb::Array(mut items) => {
                    items.retain(|v| !matches!(v, Jsonb::String(s) if *s == key));
                    Ok(Jsonb::Array(items))
                }
                _ => Err(scalar()),
            }
        }
    }
}

/// What [`edit_path`] does at the end of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathOp {
    /// jsonb_set with create_missing false: only an existing value.
    Replace,
    /// jsonb_set: replace, or add a missing last key or element.
    Create,
    /// jsonb_insert: before (or after) an element, or a missing key.
    InsertBefore,
    InsertAfter,
    /// `#-`.
    Delete,
}

impl PathOp {
    fn adds(self) -> bool {
        matches!(
            self,
            PathOp::Create | PathOp::InsertBefore | PathOp::InsertAfter
        )
    }
}

/// jsonb_set, jsonb_insert and `#-` on `target` at the text[] `path`, as
/// PostgreSQL's `setPath` walks it: a key of an object or an integer
/// index of an array (negative from the end) per level; a path that
/// leads nowhere changes nothing; only the last step adds.
fn edit_path(target: Jsonb, path: &Value, new: Option<Jsonb>, op: PathOp) -> Result<Jsonb> {
    if target.is_scalar() {
        let what = if op == PathOp::Delete {
            "delete"
        } else {
            "set"
        };
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("cannot {what} path in scalar"),
        ));
    }
    let empty = match &target {
        Jsonb::Object(pairs) => pairs.is_empty(),
        Jsonb::Array(items) => items.is_empty(),
        _ => false,
    };
    if empty && matches!(op, PathOp::Replace | PathOp::Delete) {
        return Ok(target);
    }
    let Value::Array(path) = path else {
        return Err(Error::internal("a json path that is not text[]"));
    };
    let steps: Vec<Option<String>> = path
        .items
        .iter()
        .map(|v| (!v.is_null()).then(|| text_of(v)))
        .collect();
    if steps.is_empty() {
        return Ok(target);
    }
    let mut target = target;
    set_path(&mut target, &steps, 0, new.as_ref(), op)?;
    Ok(target)
}

fn set_path(
    at: &mut Jsonb,
    steps: &[Option<String>],
    level: usize,
    new: Option<&Jsonb>,
    op: PathOp,
) -> Result<()> {
    let Some(step) = &steps[level] else {
        return Err(Error::new(
            sqlstate::NULL_VALUE_NOT_ALLOWED,
            format!("path element at position {} is null", level + 1),
        ));
    };
    let last = level + 1 == steps.len();
    let new_value = || {
        new.cloned()
            .ok_or_else(|| Error::internal("a json path edit without a value"))
    };
    match at {
        Jsonb::Object(pairs) => match pairs.iter().position(|(k, _)| k == step) {
            Some(i) if last => match op {
                PathOp::InsertBefore | PathOp::InsertAfter => {
                    return Err(Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        "cannot replace existing key",
                    )
                    .with_hint("Try using the function jsonb_set to replace key value."))
                }
                PathOp::Delete => {
                    pairs.remove(i);
                }
                PathOp::Replace | PathOp::Create => pairs[i].1 = new_value()?,
            },
            Some(i) => set_path(&mut pairs[i].1, steps, level + 1, new, op)?,
            None if last && op.adds() => {
                let mut all = std::mem::take(pairs);
                all.push((step.clone(), new_value()?));
                *pairs = json::normalize_object(all);
            }
            None => {}
        },
        Jsonb::Array(items) => {
            let n = items.len() as i64;
            let index = parse_index(step).ok_or_else(|| {
                Error::new(
                    sqlstate::INVALID_TEXT_REPRESENTATION,
                    format!(
                        "path element at position {} is not an integer: \"{step}\"",
                        level + 1
                    ),
                )
            })?;
            // Before the start (prepend), an element, or past the end.
            let at = match index {
                i if i < 0 && -i > n => None,
                i if i < 0 => Some(n + i),
                i => Some(i.min(n)),
            };
            if (at.is_none() || n == 0) && last && op.adds() {
                items.insert(0, new_value()?);
                return Ok(());
            }
            match at {
                Some(i) if i < n => {
                    let i = i as usize;
                    if !last {
                        return set_path(&mut items[i], steps, level + 1, new, op);
                    }
                    match op {
                        PathOp::Replace | PathOp::Create => items[i] = new_value()?,
                        PathOp::InsertBefore => items.insert(i, new_value()?),
                        PathOp::InsertAfter => items.insert(i + 1, new_value()?),
                        PathOp::Delete => {
                            items.remove(i);
                        }
                    }
                }
                _ if last && op.adds() => items.push(new_value()?),
                _ => {}
            }
        }
        // A scalar inside the document: the path goes no further.
        _ => {}
    }
    Ok(())
}

/// An array index in a path, read as C's `strtol` into an int: leading
/// blanks and a sign allowed, nothing after the digits.
fn parse_index(step: &str) -> Option<i64> {
    let t = step.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<i32>().ok().map(i64::from)
}

fn strip_nulls(j: Jsonb) -> Jsonb {
    match j {
        Jsonb::Object(pairs) => Jsonb::Object(
            pairs
                .into_iter()
                .filter(|(_, v)| !matches!(v, Jsonb::Null))
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Jsonb::Array(items) => Jsonb::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// `jsonb_pretty`: four spaces an indent level, as PostgreSQL prints.
fn pretty(j: &Jsonb, level: usize, out: &mut String) {
    let indent = |out: &mut String, level: usize| {
        for _ in 0..level {
            out.push_str("    ");
        }
    };
    // Empty containers too open a line and close on the next.
    match j {
        Jsonb::Array(items) => {
            out.push_str("[\n");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(out, level + 1);
                pretty(v, level + 1, out);
            }
            if !items.is_empty() {
                out.push('\n');
            }
            indent(out, level);
            out.push(']');
        }
        Jsonb::Object(pairs) => {
            out.push_str("{\n");
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(out, level + 1);
                json::write_string(out, k);
                out.push_str(": ");
                pretty(v, level + 1, out);
            }
            if !pairs.is_empty() {
                out.push('\n');
            }
            indent(out, level);
            out.push('}');
        }
        other => other.write_text(out),
    }
}

/// [`to_jsonb_in`] with the default output style.
pub fn to_jsonb(v: &Value) -> Result<Jsonb> {
    to_jsonb_in(v, &OutputStyle::DEFAULT)
}

/// A SQL value as JSON, as `to_jsonb` converts it: numbers stay numbers,
/// booleans booleans, json and jsonb themselves, NULL null, everything
/// else its text output in `style` as a string (dates and timestamps in
/// ISO 8601 with a `T`, whatever the `DateStyle`).
pub fn to_jsonb_in(v: &Value, style: &OutputStyle) -> Result<Jsonb> {
    Ok(match v {
        Value::Null => Jsonb::Null,
        Value::Bool(b) => Jsonb::Bool(*b),
        // PostgreSQL's to_jsonb turns NaN and the infinities into strings.
        Value::Numeric(n) if !n.is_finite() => Jsonb::String(n.to_string()),
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) | Value::Numeric(_) => {
            Jsonb::Number(v.to_numeric()?)
        }
        Value::Float4(_) | Value::Float8(_) => {
            let f = v.to_f64()?;
            match f.is_finite() {
                true => json::parse(&v.to_text_in(style).unwrap_or_default())?,
                false => Jsonb::String(v.to_text().unwrap_or_default()),
            }
        }
        Value::Jsonb(j) => (**j).clone(),
        Value::Json(s) => json::parse(s)?,
        Value::Array(a) => Jsonb::Array(
            a.items
                .iter()
                .map(|v| to_jsonb_in(v, style))
                .collect::<Result<_>>()?,
        ),
        Value::Date(_) => Jsonb::String(v.to_text().unwrap_or_default()),
        Value::Timestamp(_) => Jsonb::String(v.to_text().unwrap_or_default().replacen(' ', "T", 1)),
        Value::TimestampTz(ts) => {
            let mut text = String::new();
            tessera_types::datetime::format::write_timestamptz_xsd(&mut text, *ts, style.zone);
            Jsonb::String(text)
        }
        Value::BpChar(s) => Jsonb::String(s.clone()),
        Value::Record(r) => {
            let mut pairs = Vec::with_capacity(r.fields.len());
            for (name, v) in record_members(r) {
                pairs.push((name, to_jsonb_in(v, style)?));
            }
            Jsonb::Object(json::normalize_object(pairs))
        }
        other => Jsonb::String(other.to_text_in(style).unwrap_or_default()),
    })
}

/// A record's members as JSON names them: its shape's field names, or
/// `f1`, `f2`… for a row constructor's value (PostgreSQL's anonymous
/// record columns).
fn record_members(r: &tessera_types::value::Record) -> Vec<(String, &Value)> {
    let names = r.shape.fields();
    r.fields
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let name = match names.get(i) {
                Some((n, _)) => n.to_string(),
                None => format!("f{}", i + 1),
            };
            (name, v)
        })
        .collect()
}

/// A record as json (not jsonb): `{"f1":1,"f2":"a"}`, no blanks, as
/// PostgreSQL's `composite_to_json` writes it.
fn write_record(
    r: &tessera_types::value::Record,
    out: &mut String,
    style: &OutputStyle,
) -> Result<()> {
    out.push('{');
    for (i, (name, v)) in record_members(r).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_string(out, &name);
        out.push(':');
        write_json_element_in(v, out, style)?;
    }
    out.push('}');
    Ok(())
}

/// `row_to_json(…, true)`: the compact object `text` with each top-level
/// member after the first on a line of its own, indented by one blank.
fn pretty_row(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for c in text.chars() {
        out.push(c);
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => out.push_str("\n "),
            _ => {}
        }
    }
    out
}

/// JSON without blanks between elements (`[1,"a",null]`).
fn write_compact(j: &Jsonb, out: &mut String) {
    match j {
        Jsonb::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(v, out);
            }
            out.push(']');
        }
        Jsonb::Object(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::write_string(out, k);
                out.push(':');
                write_compact(v, out);
            }
            out.push('}');
        }
        other => other.write_text(out),
    }
}

/// `json[b]_build_object(k1, v1, …)`: keys must not be NULL; jsonb keeps
/// the last of equal keys, json keeps them all in order.
fn build_object(args: &[Value], binary: bool, style: &OutputStyle) -> Result<Value> {
    if !args.len().is_multiple_of(2) {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "argument list must have even number of elements",
        )
        .with_hint(format!(
            "The arguments of {} must consist of alternating keys and values.",
            if binary {
                "jsonb_build_object()"
            } else {
                "json_build_object()"
            }
        )));
    }
    let mut pairs = Vec::with_capacity(args.len() / 2);
    for (i, kv) in args.chunks(2).enumerate() {
        if kv[0].is_null() {
            return Err(Error::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!("argument {}: key must not be null", i * 2 + 1),
            ));
        }
        let key = match &kv[0] {
            Value::Bool(b) => b.to_string(),
            other => text_of(other),
        };
        pairs.push((key, &kv[1]));
    }
    if binary {
        let mut members = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            members.push((k, to_jsonb_in(v, style)?));
        }
        return Ok(jsonb_value(Jsonb::Object(json::normalize_object(members))));
    }
    // `{"k" : v, …}`, each value as json writes it.
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        json::write_string(&mut out, &k);
        out.push_str(" : ");
        write_json_element_in(v, &mut out, style)?;
    }
    out.push('}');
    Ok(Value::Json(out))
}

/// A row as a JSON object, as PostgreSQL's `row_to_json` (json: no
/// blanks, nested arrays compact, json values as written) and `to_jsonb`
/// write it; `args` alternate column names and values.
fn row_object(args: &[Value], binary: bool, style: &OutputStyle) -> Result<Value> {
    if binary {
        let mut pairs = Vec::with_capacity(args.len() / 2);
        for kv in args.chunks(2) {
            let value = kv.get(1).unwrap_or(&Value::Null);
            pairs.push((text_of(&kv[0]), to_jsonb_in(value, style)?));
        }
        return Ok(jsonb_value(Jsonb::Object(json::normalize_object(pairs))));
    }
    let mut out = String::from("{");
    for (i, kv) in args.chunks(2).enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_string(&mut out, &text_of(&kv[0]));
        out.push(':');
        write_json_element_in(kv.get(1).unwrap_or(&Value::Null), &mut out, style)?;
    }
    out.push('}');
    Ok(Value::Json(out))
}

/// [`write_json_element_in`] with the default output style.
pub fn write_json_element(v: &Value, out: &mut String) -> Result<()> {
    write_json_element_in(v, out, &OutputStyle::DEFAULT)
}

/// A value inside json (not jsonb) that PostgreSQL's `datum_to_json`
/// writes: json as given, arrays compact, anything else as `to_json`.
pub fn write_json_element_in(v: &Value, out: &mut String, style: &OutputStyle) -> Result<()> {
    match v {
        Value::Json(text) => out.push_str(text),
        Value::Array(_) => write_compact(&to_jsonb_in(v, style)?, out),
        Value::Record(r) => write_record(r, out, style)?,
        other => to_jsonb_in(other, style)?.write_text(out),
    }
    Ok(())
}

/// A version 4 (random) UUID from the operating system's generator.
fn random_uuid() -> [u8; 16] {
    let mut u = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut u))
        .is_err()
    {
        // No urandom: mix the clock and a counter through a hash.
        use std::hash::{BuildHasher, Hasher};
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, chunk) in u.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_u64(n ^ i as u64);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn unknown_encoding(format: &str) -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("unrecognized encoding: \"{format}\""),
    )
}

/// `encode(bytea, 'hex' | 'base64' | 'escape')`.
fn encode(b: &[u8], format: &str) -> Result<Value> {
    let mut out = String::new();
    match format.to_ascii_lowercase().as_str() {
        "hex" => {
            for byte in b {
                out.push_str(&format!("{byte:02x}"));
            }
        }
        "base64" => {
            // 76 characters a line, as PostgreSQL writes.
            for (n, chunk) in b.chunks(3).enumerate() {
                if n > 0 && n % 19 == 0 {
                    out.push('\n');
                }
                let v = (chunk[0] as u32) << 16
                    | (*chunk.get(1).unwrap_or(&0) as u32) << 8
                    | *chunk.get(2).unwrap_or(&0) as u32;
                for i in 0..4 {
                    if i <= chunk.len() {
                        out.push(BASE64[(v >> (18 - 6 * i) & 63) as usize] as char);
                    } else {
                        out.push('=');
                    }
                }
            }
        }
        "escape" => {
            for &byte in b {
                match byte {
                    b'\\' => out.push_str("\\\\"),
                    0 | 0x80..=0xff => out.push_str(&format!("\\{byte:03o}")),
                    c => out.push(c as char),
                }
            }
        }
        _ => return Err(unknown_encoding(format)),
    }
    Ok(Value::Text(out))
}

/// `decode(text, 'hex' | 'base64' | 'escape')`.
fn decode(s: &str, format: &str) -> Result<Value> {
    match format.to_ascii_lowercase().as_str() {
        "hex" => {
            let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
            let mut out = Vec::with_capacity(digits.len() / 2);
            for pair in digits.chunks(2) {
                let digit = |c: u8| {
                    (c as char).to_digit(16).ok_or_else(|| {
                        Error::new(
                            sqlstate::INVALID_PARAMETER_VALUE,
                            format!("invalid hexadecimal digit: \"{}\"", c as char),
                        )
                    })
                };
                let [hi, lo] = pair else {
                    return Err(Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        "invalid hexadecimal data: odd number of digits",
                    ));
                };
                out.push((digit(*hi)? << 4 | digit(*lo)?) as u8);
            }
            Ok(Value::Bytea(out))
        }
        "base64" => {
            let mut out = Vec::new();
            let mut acc = 0u32;
            let mut bits = 0;
            let mut ended = false;
            for c in s.bytes() {
                if c.is_ascii_whitespace() {
                    continue;
                }
                if c == b'=' {
                    ended = true;
                    continue;
                }
                let Some(v) = BASE64.iter().position(|b| *b == c).filter(|_| !ended) else {
                    return Err(Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!(
                            "invalid symbol \"{}\" found while decoding base64 sequence",
                            c as char
                        ),
                    ));
                };
                acc = acc << 6 | v as u32;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                    acc &= (1 << bits) - 1;
                }
            }
            Ok(Value::Bytea(out))
        }
        "escape" => tessera_types::value::parse_bytea(s).map(Value::Bytea),
        _ => Err(unknown_encoding(format)),
    }
}

/// The rows of the json set-returning function `f` (or `unnest`) for
/// one document (none for NULL), with PostgreSQL's
/// errors for the wrong kind of value.
pub fn table_rows(f: TableFn, doc: &Value) -> Result<Vec<Vec<Value>>> {
    if doc.is_null() {
        return Ok(Vec::new());
    }
    if f == TableFn::Unnest {
        return Ok(crate::array::unnest_rows(doc));
    }
    let keep_json = matches!(doc, Value::Json(_));
    let as_value = |j: Jsonb, text: bool| -> Value {
        match (text, keep_json) {
            (true, _) => j.as_text().map_or(Value::Null, Value::Text),
            (false, true) => Value::Json(j.to_text()),
            (false, false) => jsonb_value(j),
        }
    };
    // json keeps each value's text as written.
    if let (Value::Json(text), TableFn::Elements { text: false } | TableFn::Each { text: false }) =
        (doc, f)
    {
        match json::members(text)? {
            json::Members::Array(items) if matches!(f, TableFn::Elements { .. }) => {
                return Ok(items
                    .into_iter()
                    .map(|s| vec![Value::Json(text[s].to_string())])
                    .collect())
            }
            json::Members::Object(pairs) if matches!(f, TableFn::Each { .. }) => {
                return Ok(pairs
                    .into_iter()
                    .map(|(k, s)| vec![Value::Text(k), Value::Json(text[s].to_string())])
                    .collect())
            }
            _ => {}
        }
    }
    let j = jsonb_of(doc)?;
    let kind = if j.is_scalar() {
        "a scalar"
    } else {
        "a non-array"
    };
    let which = if keep_json { "json" } else { "jsonb" };
    match (f, j) {
        (TableFn::Elements { text }, Jsonb::Array(items)) => {
            Ok(items.into_iter().map(|v| vec![as_value(v, text)]).collect())
        }
        (TableFn::Elements { .. }, _) => Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!(
                "cannot extract elements from {}",
                kind.replace("a non-array", "an object")
            ),
        )),
        (TableFn::Each { text }, Jsonb::Object(pairs)) => Ok(pairs
            .into_iter()
            .map(|(k, v)| vec![Value::Text(k), as_value(v, text)])
            .collect()),
        (TableFn::ObjectKeys, Jsonb::Object(pairs)) => Ok(pairs
            .into_iter()
            .map(|(k, _)| vec![Value::Text(k)])
            .collect()),
        (TableFn::Each { .. }, _) => Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("cannot call {which}_each on a non-object"),
        )),
        (TableFn::ObjectKeys, j) => Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!(
                "cannot call {which}_object_keys on {}",
                if j.is_scalar() {
                    "a scalar"
                } else {
                    "an array"
                }
            ),
        )),
        (other, _) => Err(Error::internal(format!("{other:?} is no json function"))),
    }
}

/// The result type of `f` over arguments of `types`, or `None` when no
/// overload takes them (the binder reports 42883). Unknown literals take
/// the types the chosen overload wants.
pub fn signature(f: JsonFn, types: &[DataType]) -> Option<(Vec<Option<DataType>>, DataType)> {
    use DataType as T;
    use JsonFn as F;
    // An untyped literal is taken as jsonb.
    let is_json = |t: DataType| matches!(t, T::Json | T::Jsonb | T::Unknown);
    let doc = |t: DataType| match t {
        T::Unknown => Some(T::Jsonb),
        T::Json | T::Jsonb => Some(t),
        _ => None,
    };
    let text = |t: DataType| (t.is_string() || t == T::Unknown).then_some(T::Text);
    Some(match (f, types) {
        (F::Get, [d, k]) => {
            let d = doc(*d)?;
            let k = if k.is_integer() { T::Int4 } else { text(*k)? };
            (vec![Some(d), Some(k)], d)
        }
        (F::GetText, [d, k]) => {
            let d = doc(*d)?;
            let k = if k.is_integer() { T::Int4 } else { text(*k)? };
            (vec![Some(d), Some(k)], T::Text)
        }
        (F::Path, [d, p]) => {
            let d = doc(*d)?;
            (vec![Some(d), Some(text(*p)?)], d)
        }
        (F::PathText, [d, p]) => (vec![Some(doc(*d)?), Some(text(*p)?)], T::Text),
        (F::Contains | F::ContainedBy, [a, b])
            if [*a, *b].iter().all(|t| matches!(t, T::Jsonb | T::Unknown)) =>
        {
            (vec![Some(T::Jsonb), Some(T::Jsonb)], T::Bool)
        }
        (F::HasKey, [T::Jsonb, k]) => (vec![Some(T::Jsonb), Some(text(*k)?)], T::Bool),
        (
            F::HasAny | F::HasAll,
            [T::Jsonb, T::Unknown | T::Array(tessera_types::array::Elem::Text)],
        ) => {
            let keys = T::Array(tessera_types::array::Elem::Text);
            (vec![Some(T::Jsonb), Some(keys)], T::Bool)
        }
        (F::Concat, [a, b]) if [*a, *b].iter().all(|t| matches!(t, T::Jsonb | T::Unknown)) => {
            (vec![Some(T::Jsonb), Some(T::Jsonb)], T::Jsonb)
        }
        (F::Delete, [T::Jsonb, T::Array(tessera_types::array::Elem::Text)]) => {
            let keys = T::Array(tessera_types::array::Elem::Text);
            (vec![Some(T::Jsonb), Some(keys)], T::Jsonb)
        }
        (F::Set | F::Insert, [d, p, v, rest @ ..])
            if rest.len() <= 1
                && [*d, *v].iter().all(|t| matches!(t, T::Jsonb | T::Unknown))
                && matches!(p, T::Unknown | T::Array(tessera_types::array::Elem::Text))
                && rest.iter().all(|t| matches!(t, T::Bool | T::Unknown)) =>
        {
            let path = T::Array(tessera_types::array::Elem::Text);
            let mut kinds = vec![Some(T::Jsonb), Some(path), Some(T::Jsonb)];
            kinds.extend(rest.iter().map(|_| Some(T::Bool)));
            (kinds, T::Jsonb)
        }
        (F::DeletePath, [d, p])
            if matches!(d, T::Jsonb | T::Unknown)
                && matches!(p, T::Unknown | T::Array(tessera_types::array::Elem::Text)) =>
        {
            let path = T::Array(tessera_types::array::Elem::Text);
            (vec![Some(T::Jsonb), Some(path)], T::Jsonb)
        }
        (F::Delete, [T::Jsonb, k]) => {
            let k = if k.is_integer() { T::Int4 } else { text(*k)? };
            (vec![Some(T::Jsonb), Some(k)], T::Jsonb)
        }
        (F::ByteaConcat, [a, b]) if [*a, *b].iter().all(|t| matches!(t, T::Bytea | T::Unknown)) => {
            (vec![Some(T::Bytea), Some(T::Bytea)], T::Bytea)
        }
        (F::BuildObject(b) | F::BuildArray(b), args) => {
            let any = args
                .iter()
                .map(|t| (*t == T::Unknown).then_some(T::Text))
                .collect();
            (any, if b { T::Jsonb } else { T::Json })
        }
        (F::RowObject(b), args) => (vec![None; args.len()], if b { T::Jsonb } else { T::Json }),
        (F::RowToJson, [T::Record(_) | T::Json]) => (vec![None], T::Json),
        (F::RowToJson, [T::Record(_) | T::Json, T::Bool | T::Unknown]) => {
            (vec![None, Some(T::Bool)], T::Json)
        }
        (F::To(b), [t]) => (
            vec![(*t == T::Unknown).then_some(T::Text)],
            if b { T::Jsonb } else { T::Json },
        ),
        (F::Typeof, [t]) if is_json(*t) => (vec![doc(*t)], T::Text),
        (F::ArrayLength, [t]) if is_json(*t) => (vec![doc(*t)], T::Int4),
        // json_strip_nulls takes json, jsonb_strip_nulls jsonb.
        (F::StripNulls(binary), [t])
            if *t == T::Unknown || *t == (if binary { T::Jsonb } else { T::Json }) =>
        {
            let t = if binary { T::Jsonb } else { T::Json };
            (vec![Some(t)], t)
        }
        (F::Pretty, [T::Jsonb | T::Unknown]) => (vec![Some(T::Jsonb)], T::Text),
        (F::ExtractPath, [d, keys @ ..]) if is_json(*d) => {
            let mut kinds = vec![doc(*d)];
            for k in keys {
                kinds.push(Some(text(*k)?));
            }
            (kinds, doc(*d)?)
        }
        (F::ExtractPathText, [d, keys @ ..]) if is_json(*d) => {
            let mut kinds = vec![doc(*d)];
            for k in keys {
                kinds.push(Some(text(*k)?));
            }
            (kinds, T::Text)
        }
        (F::GenRandomUuid, []) => (vec![], T::Uuid),
        (F::Encode, [T::Bytea | T::Unknown, f]) => (vec![Some(T::Bytea), Some(text(*f)?)], T::Text),
        (F::Decode, [s, f]) => (vec![Some(text(*s)?), Some(text(*f)?)], T::Bytea),
        (F::OctetLength, [T::Bytea]) => (vec![None], T::Int4),
        (F::Bytea(f), types) => return f.signature(types),
        (F::RecordDoc { binary, .. }, [t]) if is_json(*t) => {
            let t = if binary { T::Jsonb } else { T::Json };
            (vec![Some(t)], t)
        }
        (F::OctetLength, [t]) => (vec![Some(text(*t)?)], T::Int4),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonb(s: &str) -> Value {
        jsonb_value(json::parse(s).expect("json"))
    }

    fn path(steps: &[Option<&str>]) -> Value {
        Value::Array(Box::new(tessera_types::array::Array {
            elem: tessera_types::array::Elem::Text,
            items: steps
                .iter()
                .map(|s| s.map_or(Value::Null, |s| Value::Text(s.to_string())))
                .collect(),
        }))
    }

    fn text(v: Value) -> String {
        match v {
            Value::Jsonb(j) => j.to_text(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn set_insert_and_delete_walk_paths_as_postgres() {
        let doc = jsonb(r#"{"a": [1, 2, 3]}"#);
        let new = jsonb("9");
        let set = |p: &[Option<&str>]| {
            JsonFn::Set
                .eval(&[doc.clone(), path(p), new.clone()])
                .map(text)
        };
        assert_eq!(
            set(&[Some("a"), Some("-1")]).unwrap(),
            r#"{"a": [1, 2, 9]}"#
        );
        assert_eq!(
            set(&[Some("a"), Some("-9")]).unwrap(),
            r#"{"a": [9, 1, 2, 3]}"#
        );
        assert_eq!(
            set(&[Some("a"), Some("7")]).unwrap(),
            r#"{"a": [1, 2, 3, 9]}"#
        );
        assert_eq!(set(&[Some("b"), Some("c")]).unwrap(), r#"{"a": [1, 2, 3]}"#);
        assert_eq!(
            set(&[None]).unwrap_err().code,
            sqlstate::NULL_VALUE_NOT_ALLOWED
        );
        assert_eq!(
            set(&[Some("a"), Some("x")]).unwrap_err().code,
            sqlstate::INVALID_TEXT_REPRESENTATION
        );
        let insert = JsonFn::Insert
            .eval(&[doc.clone(), path(&[Some("a"), Some("0")]), new.clone()])
            .map(text);
        assert_eq!(insert.unwrap(), r#"{"a": [9, 1, 2, 3]}"#);
        let taken = JsonFn::Insert.eval(&[doc.clone(), path(&[Some("a")]), new.clone()]);
        assert_eq!(taken.unwrap_err().code, sqlstate::INVALID_PARAMETER_VALUE);
        let deleted = JsonFn::DeletePath
            .eval(&[doc.clone(), path(&[Some("a"), Some("1")])])
            .map(text);
        assert_eq!(deleted.unwrap(), r#"{"a": [1, 3]}"#);
        let scalar = JsonFn::DeletePath.eval(&[jsonb("1"), path(&[Some("a")])]);
        assert_eq!(scalar.unwrap_err().code, sqlstate::INVALID_PARAMETER_VALUE);
    }
}
