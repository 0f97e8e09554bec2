//! Regular expressions as PostgreSQL has them: the `~` operators,
//! `SIMILAR TO`, and the `regexp_*` functions.
//!
//! PostgreSQL's flavour (ARE) is translated to the `regex` crate's:
//! `\m`, `\M`, `\y`, `\Y`, `[[:<:]]`, `[[:>:]]`, `\A`, `\Z`, `\B` (a
//! backslash), `\uXXXX`, embedded options and the flags map onto their
//! equivalents. What the crate cannot do — back-references in a pattern,
//! look-ahead and look-behind, the basic and extended flavours — is refused
//! with 2201B or 0A000, never matched differently.
//!
//! PostgreSQL reports the longest of the matches that start leftmost when
//! the pattern is greedy; the crate reports the first by preference order.
//! Whether a pattern matches does not depend on that, but where a match
//! ends does: the functions that return match positions or text
//! (`regexp_replace`, `regexp_count`, `regexp_instr`, `regexp_substr`)
//! refuse, with 0A000, the patterns where the two can differ — alternation,
//! non-greedy quantifiers, and an optional part after a variable-length one.
//!
//! Compiled patterns are kept per thread in a small cache keyed by pattern
//! text and flags, so a constant pattern is compiled once, not per row.

use std::cell::RefCell;
use std::rc::Rc;

use regex::Regex;
use tessera_types::{sqlstate, DataType, Error, Result, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PatternFn {
    /// `~`, `~*`, `!~`, `!~*`.
    Match {
        case_insensitive: bool,
        negated: bool,
    },
    /// `[NOT] SIMILAR TO` (args: string, pattern, optional escape).
    Similar {
        negated: bool,
    },
    RegexpLike,
    RegexpReplace,
    RegexpCount,
    RegexpInstr,
    RegexpSubstr,
    /// `regexp_match(s, p [, flags])`: the first match's groups as text[].
    RegexpMatch,
    /// `regexp_split_to_array(s, p [, flags])`.
    RegexpSplit,
}

/// How many compiled patterns a thread keeps; at the limit the oldest is
/// dropped (PostgreSQL keeps 32 too).
const CACHE_ENTRIES_MAX: usize = 32;

/// The longest pattern text compiled; longer ones are 54000 (the compiled
/// program grows with the text).
const PATTERN_BYTES_MAX: usize = 64 << 10;

/// The largest compiled program the crate may build for one pattern.
const COMPILED_BYTES_MAX: usize = 16 << 20;

/// Options of a pattern (from flags, the operator, or embedded options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
struct Options {
    case_insensitive: bool,
    /// `.` and `[^…]` do not match a newline (flags n, p).
    dot_stops_at_newline: bool,
    /// `^` and `$` match at line boundaries (flags n, w).
    anchors_at_lines: bool,
    expanded: bool,
    literal: bool,
    /// The pattern is SQL's SIMILAR TO syntax, with this escape.
    similar: Option<Option<char>>,
}

/// Flags of a regexp function, parsed.
struct Flags {
    options: Options,
    global: bool,
}

impl PatternFn {
    pub fn named(name: &str) -> Option<PatternFn> {
        Some(match name {
            "regexp_like" => PatternFn::RegexpLike,
            "regexp_replace" => PatternFn::RegexpReplace,
            "regexp_count" => PatternFn::RegexpCount,
            "regexp_instr" => PatternFn::RegexpInstr,
            "regexp_substr" => PatternFn::RegexpSubstr,
            "regexp_match" => PatternFn::RegexpMatch,
            "regexp_split_to_array" => PatternFn::RegexpSplit,
            _ => return None,
        })
    }

    /// The SQL name, for messages.
    fn name(self) -> &'static str {
        match self {
            PatternFn::Match { .. } => "~",
            PatternFn::Similar { .. } => "similar to",
            PatternFn::RegexpLike => "regexp_like",
            PatternFn::RegexpReplace => "regexp_replace",
            PatternFn::RegexpCount => "regexp_count",
            PatternFn::RegexpInstr => "regexp_instr",
            PatternFn::RegexpSubstr => "regexp_substr",
            PatternFn::RegexpMatch => "regexp_match",
            PatternFn::RegexpSplit => "regexp_split_to_array",
        }
    }

    /// The argument types for `types` (text or integer per position), and
    /// the result type; `None` when no form takes them.
    pub fn signature(self, types: &[DataType]) -> Option<(Vec<DataType>, DataType)> {
        use DataType::{Int4, Text};
        let int_at = |i: usize| {
            types
                .get(i)
                .is_some_and(|t| t.is_integer() || *t == DataType::Unknown)
        };
        let args: Vec<DataType> = match (self, types.len()) {
            (PatternFn::RegexpLike | PatternFn::RegexpMatch | PatternFn::RegexpSplit, 2 | 3) => {
                vec![Text; types.len()]
            }
            (PatternFn::RegexpReplace, 3) => vec![Text; 3],
            // (s, p, r, flags) unless the fourth is an integer start.
            (PatternFn::RegexpReplace, 4) if !types[3].is_integer() => vec![Text; 4],
            (PatternFn::RegexpReplace, 4) => vec![Text, Text, Text, Int4],
            (PatternFn::RegexpReplace, 5) if int_at(3) => vec![Text, Text, Text, Int4, Int4],
            (PatternFn::RegexpReplace, 6) if int_at(3) => {
                vec![Text, Text, Text, Int4, Int4, Text]
            }
            (PatternFn::RegexpCount, 2) => vec![Text, Text],
            (PatternFn::RegexpCount, 3) => vec![Text, Text, Int4],
            (PatternFn::RegexpCount, 4) => vec![Text, Text, Int4, Text],
            (PatternFn::RegexpInstr, n @ 2..=7) => {
                [Text, Text, Int4, Int4, Int4, Text, Int4][..n].to_vec()
            }
            (PatternFn::RegexpSubstr, n @ 2..=6) => {
                [Text, Text, Int4, Int4, Text, Int4][..n].to_vec()
            }
            _ => return None,
        };
        let ok = args.iter().zip(types).all(|(want, t)| match want {
            Text => t.is_string() || *t == DataType::Unknown,
            _ => t.is_integer() || *t == DataType::Unknown,
        });
        if !ok {
            return None;
        }
        let result = match self {
            PatternFn::RegexpCount | PatternFn::RegexpInstr => Int4,
            PatternFn::RegexpReplace | PatternFn::RegexpSubstr => Text,
            PatternFn::RegexpMatch | PatternFn::RegexpSplit => {
                DataType::Array(tessera_types::array::Elem::Text)
            }
            _ => DataType::Bool,
        };
        Some((args, result))
    }

    /// Evaluates the operator or function; a NULL argument gives NULL.
    pub fn eval(self, args: &[Value]) -> Result<Value> {
        if args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let text = |i: usize| -> Result<&str> {
            match args.get(i) {
                Some(Value::Text(s) | Value::BpChar(s)) => Ok(s.as_str()),
                _ => Err(Error::internal("a pattern function's argument is not text")),
            }
        };
        let int = |i: usize, default: i64| -> Result<i64> {
            match args.get(i) {
                None => Ok(default),
                Some(v) => v.as_i64().ok_or_else(|| {
                    Error::internal("a pattern function's argument is not an integer")
                }),
            }
        };
        match self {
            PatternFn::Match {
                case_insensitive,
                negated,
            } => {
                let options = Options {
                    case_insensitive,
                    ..Options::default()
                };
                let found = with_regex(text(1)?, options, false, |re| Ok(re.is_match(text(0)?)))?;
                Ok(Value::Bool(found != negated))
            }
            PatternFn::Similar { negated } => {
                let escape = match args.get(2) {
                    None => Some('\\'),
                    Some(_) => {
                        let e = text(2)?;
                        let mut chars = e.chars();
                        match (chars.next(), chars.next()) {
                            (None, _) => None,
                            (Some(c), None) => Some(c),
                            _ => {
                                return Err(Error::new(
                                    sqlstate::INVALID_ESCAPE_SEQUENCE,
                                    "invalid escape string",
                                )
                                .with_hint("Escape string must be empty or one character."))
                            }
                        }
                    }
                };
                let options = Options {
                    similar: Some(escape),
                    ..Options::default()
                };
                let found = with_regex(text(1)?, options, false, |re| Ok(re.is_match(text(0)?)))?;
                Ok(Value::Bool(found != negated))
            }
            PatternFn::RegexpMatch => {
                let flags = self.flags(args.get(2).map(|_| text(2)).transpose()?, false)?;
                let s = text(0)?;
                with_regex(text(1)?, flags.options, true, |re| {
                    Ok(re
                        .captures(s)
                        .map_or(Value::Null, |caps| match_groups(&caps)))
                })
            }
            PatternFn::RegexpSplit => {
                let flags = self.flags(args.get(2).map(|_| text(2)).transpose()?, false)?;
                split(text(0)?, text(1)?, flags.options).map(text_array)
            }
            PatternFn::RegexpLike => {
                let flags = self.flags(args.get(2).map(|_| text(2)).transpose()?, false)?;
                let found = with_regex(text(1)?, flags.options, false, |re| {
                    Ok(re.is_match(text(0)?))
                })?;
                Ok(Value::Bool(found))
            }
            PatternFn::RegexpReplace => {
                // (s, p, r [, flags]) or (s, p, r, start [, n [, flags]]).
                let with_start = matches!(args.get(3), Some(v) if v.as_i64().is_some());
                let (start, n, flags) = if with_start {
                    let start = positive(int(3, 1)?, "start")?;
                    let n = int(4, 0)?;
                    if n < 0 {
                        return Err(bad_parameter("n", n));
                    }
                    let flags = args.get(5).map(|_| text(5)).transpose()?;
                    // Without n, the first match from start is replaced.
                    let n = if args.len() > 4 { n } else { 1 };
                    (start, n, self.flags(flags, true)?)
                } else {
                    let flags = self.flags(args.get(3).map(|_| text(3)).transpose()?, true)?;
                    let n = if flags.global { 0 } else { 1 };
                    (1, n, flags)
                };
                let s = text(0)?;
                let replacement = text(2)?;
                with_regex(text(1)?, flags.options, true, |re| {
                    Ok(Value::Text(replace(re, s, replacement, start, n)))
                })
            }
            PatternFn::RegexpCount => {
                let start = positive(int(2, 1)?, "start")?;
                let flags = self.flags(args.get(3).map(|_| text(3)).transpose()?, false)?;
                let s = text(0)?;
                with_regex(text(1)?, flags.options, true, |re| {
                    let from = byte_offset(s, start);
                    Ok(Value::Int4(matches_from(re, s, from).count() as i32))
                })
            }
            PatternFn::RegexpInstr => {
                let start = positive(int(2, 1)?, "start")?;
                let n = positive(int(3, 1)?, "n")?;
                let end_option = int(4, 0)?;
                if end_option != 0 && end_option != 1 {
                    return Err(bad_parameter("endoption", end_option));
                }
                let flags = self.flags(args.get(5).map(|_| text(5)).transpose()?, false)?;
                let subexpr = non_negative(int(6, 0)?, "subexpr")?;
                let s = text(0)?;
                with_regex(text(1)?, flags.options, true, |re| {
                    let Some((from, to)) = nth_match(re, s, start, n, subexpr) else {
                        return Ok(Value::Int4(0));
                    };
                    let at = if end_option == 1 { to } else { from };
                    Ok(Value::Int4(s[..at].chars().count() as i32 + 1))
                })
            }
            PatternFn::RegexpSubstr => {
                let start = positive(int(2, 1)?, "start")?;
                let n = positive(int(3, 1)?, "n")?;
                let flags = self.flags(args.get(4).map(|_| text(4)).transpose()?, false)?;
                let subexpr = non_negative(int(5, 0)?, "subexpr")?;
                let s = text(0)?;
                with_regex(text(1)?, flags.options, true, |re| {
                    Ok(match nth_match(re, s, start, n, subexpr) {
                        Some((from, to)) => Value::Text(s[from..to].to_string()),
                        None => Value::Null,
                    })
                })
            }
        }
    }

    /// Parses a flags argument; `g` only where `global` is allowed.
    fn flags(self, flags: Option<&str>, global_allowed: bool) -> Result<Flags> {
        flags_of(self.name(), flags, global_allowed)
    }
}

/// The pieces of `s` between the matches of `pattern`. As PostgreSQL:
/// empty matches at either end, or right after the previous match, do
/// not split.
fn split(s: &str, pattern: &str, options: Options) -> Result<Vec<Value>> {
    with_regex(pattern, options, true, |re| {
        let mut pieces = Vec::new();
        let mut last = 0;
        for m in re.find_iter(s) {
            let empty = m.start() == m.end();
            if empty && (m.start() == 0 || m.start() == s.len() || m.start() == last) {
                continue;
            }
            pieces.push(Value::Text(s[last..m.start()].to_string()));
            last = m.end();
        }
        pieces.push(Value::Text(s[last..].to_string()));
        Ok(pieces)
    })
}

/// The groups of one match as `regexp_match` returns them: NULL where a
/// group took no part, or the whole match when the pattern has none.
fn match_groups(caps: &regex::Captures) -> Value {
    let items: Vec<Value> = match caps.len() {
        1 => vec![Value::Text(caps[0].to_string())],
        n => (1..n)
            .map(|i| {
                caps.get(i)
                    .map_or(Value::Null, |m| Value::Text(m.as_str().to_string()))
            })
            .collect(),
    };
    text_array(items)
}

/// The rows of the set-returning `regexp_matches(s, p [, flags])`: one
/// text[] per match — every match with flag `g`, else the first — and
/// none for a NULL argument.
pub fn regexp_matches_rows(args: &[Value]) -> Result<Vec<Vec<Value>>> {
    let Some(texts) = texts_of(args)? else {
        return Ok(Vec::new());
    };
    let flags = flags_of("regexp_matches", texts.get(2).copied(), true)?;
    let s = texts[0];
    with_regex(texts[1], flags.options, true, |re| {
        let mut rows = Vec::new();
        for caps in captures_iter_at(re, s, 0) {
            rows.push(vec![match_groups(&caps)]);
            if !flags.global {
                break;
            }
        }
        Ok(rows)
    })
}

/// The rows of `regexp_split_to_table(s, p [, flags])`: a text per
/// piece, none for a NULL argument.
pub fn regexp_split_rows(args: &[Value]) -> Result<Vec<Vec<Value>>> {
    let Some(texts) = texts_of(args)? else {
        return Ok(Vec::new());
    };
    let flags = flags_of("regexp_split_to_table", texts.get(2).copied(), false)?;
    Ok(split(texts[0], texts[1], flags.options)?
        .into_iter()
        .map(|v| vec![v])
        .collect())
}

/// The text arguments of a strict function, `None` when one is NULL.
fn texts_of(args: &[Value]) -> Result<Option<Vec<&str>>> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::Null => return Ok(None),
            Value::Text(s) | Value::BpChar(s) => out.push(s.as_str()),
            _ => return Err(Error::internal("a pattern function's argument is not text")),
        }
    }
    if out.len() < 2 {
        return Err(Error::internal("a pattern function without a pattern"));
    }
    Ok(Some(out))
}

/// Parses a flags argument of the function `name`; `g` only where
/// `global` is allowed.
fn flags_of(name: &str, flags: Option<&str>, global_allowed: bool) -> Result<Flags> {
    let mut out = Flags {
        options: Options::default(),
        global: false,
    };
    for c in flags.unwrap_or("").chars() {
        if c == 'g' {
            if !global_allowed {
                return Err(Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("{name}() does not support the \"global\" option"),
                ));
            }
            out.global = true;
        } else {
            apply_option(&mut out.options, c).map_err(|_| {
                Error::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("invalid regular expression option: \"{c}\""),
                )
            })??;
        }
    }
    Ok(out)
}

/// Applies one option letter (flags or embedded options); `Err(())` for
/// an unknown letter, `Ok(Err(_))` for one Tessera does not support.
fn apply_option(o: &mut Options, c: char) -> std::result::Result<Result<()>, ()> {
    match c {
        'i' => o.case_insensitive = true,
        'c' => o.case_insensitive = false,
        'n' | 'm' => {
            o.dot_stops_at_newline = true;
            o.anchors_at_lines = true;
        }
        'p' => {
            o.dot_stops_at_newline = true;
            o.anchors_at_lines = false;
        }
        'w' => {
            o.dot_stops_at_newline = false;
            o.anchors_at_lines = true;
        }
        's' => {
            o.dot_stops_at_newline = false;
            o.anchors_at_lines = false;
        }
        'x' => o.expanded = true,
        't' => o.expanded = false,
        'q' => o.literal = true,
        'b' => {
            return Ok(Err(Error::unsupported(
                "the basic regular expression flavour (flag b)",
            )))
        }
        'e' => {
            return Ok(Err(Error::unsupported(
                "the extended regular expression flavour (flag e)",
            )))
        }
        _ => return Err(()),
    }
    Ok(Ok(()))
}

fn bad_parameter(name: &str, v: i64) -> Error {
    Error::new(
        sqlstate::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{name}\": {v}"),
    )
}

fn positive(v: i64, name: &str) -> Result<i64> {
    if v <= 0 {
        return Err(bad_parameter(name, v));
    }
    Ok(v)
}

fn non_negative(v: i64, name: &str) -> Result<i64> {
    if v < 0 {
        return Err(bad_parameter(name, v));
    }
    Ok(v)
}

/// The byte offset of the 1-based character position `start` (the end
/// when past it).
fn byte_offset(s: &str, start: i64) -> usize {
    s.char_indices()
        .nth((start - 1) as usize)
        .map_or(s.len(), |(i, _)| i)
}

/// The byte range of the `n`th match from `start`, or of its group
/// `subexpr` (None when that group did not take part).
fn nth_match(re: &Regex, s: &str, start: i64, n: i64, subexpr: i64) -> Option<(usize, usize)> {
    let from = byte_offset(s, start);
    if subexpr == 0 {
        let m = matches_from(re, s, from).nth((n - 1) as usize)?;
        return Some((m.start(), m.end()));
    }
    if subexpr as usize >= re.captures_len() {
        return None;
    }
    let caps = captures_iter_at(re, s, from).nth((n - 1) as usize)?;
    let g = caps.get(subexpr as usize)?;
    Some((g.start(), g.end()))
}

/// Where the search goes on after a match: past it, or one character
/// past an empty one (so every position may hold an empty match, as in
/// PostgreSQL).
fn next_search(s: &str, start: usize, end: usize) -> usize {
    if start != end {
        return end;
    }
    s[end..]
        .chars()
        .next()
        .map_or(s.len() + 1, |c| end + c.len_utf8())
}

/// The successive matches from byte `from`.
fn matches_from<'h>(
    re: &'h Regex,
    s: &'h str,
    from: usize,
) -> impl Iterator<Item = regex::Match<'h>> + 'h {
    let mut at = from;
    std::iter::from_fn(move || {
        if at > s.len() {
            return None;
        }
        let m = re.find_at(s, at)?;
        at = next_search(s, m.start(), m.end());
        Some(m)
    })
}

/// [`matches_from`], with the groups of each match.
fn captures_iter_at<'h>(
    re: &'h Regex,
    s: &'h str,
    from: usize,
) -> impl Iterator<Item = regex::Captures<'h>> + 'h {
    let mut at = from;
    std::iter::from_fn(move || {
        if at > s.len() {
            return None;
        }
        let caps = re.captures_at(s, at)?;
        let m = caps.get(0)?;
        at = next_search(s, m.start(), m.end());
        Some(caps)
    })
}

/// regexp_replace: replaces the `n`th match from `start` (every match
/// when `n` is 0).
fn replace(re: &Regex, s: &str, replacement: &str, start: i64, n: i64) -> String {
    let from = byte_offset(s, start);
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..from]);
    let mut copied = from;
    for (i, caps) in captures_iter_at(re, s, from).enumerate() {
        let Some(m) = caps.get(0) else { continue };
        if n != 0 && i as i64 + 1 != n {
            continue;
        }
        out.push_str(&s[copied..m.start()]);
        substitute(&caps, replacement, &mut out);
        copied = m.end();
        if n != 0 {
            break;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// Appends `replacement` with `\1`…`\9` (a group, empty when it did not
/// take part or does not exist), `\&` (the match) and `\\` (a backslash);
/// any other backslash stays as written.
fn substitute(caps: &regex::Captures, replacement: &str, out: &mut String) {
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(d @ '1'..='9') => {
                chars.next();
                let g = d as usize - '0' as usize;
                if let Some(m) = caps.get(g) {
                    out.push_str(m.as_str());
                }
            }
            Some('&') => {
                chars.next();
                if let Some(m) = caps.get(0) {
                    out.push_str(m.as_str());
                }
            }
            Some('\\') => {
                chars.next();
                out.push('\\');
            }
            _ => out.push('\\'),
        }
    }
}

thread_local! {
    /// Compiled patterns, newest last.
    static CACHE: RefCell<Vec<CacheEntry>> = const { RefCell::new(Vec::new()) };
}

struct CacheEntry {
    pattern: String,
    options: Options,
    extents: bool,
    regex: Rc<Regex>,
}

/// Runs `f` with the compiled `pattern`, from the thread's cache or
/// compiled into it. `extents`: the caller uses match positions, so the
/// pattern must be one whose matches end where PostgreSQL's do.
fn text_array(items: Vec<Value>) -> Value {
    Value::Array(Box::new(tessera_types::array::Array {
        elem: tessera_types::array::Elem::Text,
        items,
    }))
}

fn with_regex<T>(
    pattern: &str,
    options: Options,
    extents: bool,
    f: impl FnOnce(&Regex) -> Result<T>,
) -> Result<T> {
    let cached = CACHE.with(|c| {
        c.borrow()
            .iter()
            .find(|e| e.pattern == pattern && e.options == options && e.extents == extents)
            .map(|e| e.regex.clone())
    });
    let regex = match cached {
        Some(r) => r,
        None => {
            let regex = Rc::new(compile(pattern, options, extents)?);
            CACHE.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() >= CACHE_ENTRIES_MAX {
                    c.remove(0);
                }
                c.push(CacheEntry {
                    pattern: pattern.to_string(),
                    options,
                    extents,
                    regex: regex.clone(),
                });
            });
            regex
        }
    };
    f(&regex)
}

fn invalid(message: &str) -> Error {
    Error::new(
        sqlstate::INVALID_REGULAR_EXPRESSION,
        format!("invalid regular expression: {message}"),
    )
}

fn compile(pattern: &str, options: Options, extents: bool) -> Result<Regex> {
    if pattern.len() > PATTERN_BYTES_MAX {
        return Err(Error::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "regular expression is too complex",
        ));
    }
    let translated = match options.similar {
        Some(escape) => similar_to_regex(pattern, escape)?,
        None => translate(pattern, options, extents)?,
    };
    regex::RegexBuilder::new(&translated)
        .size_limit(COMPILED_BYTES_MAX)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                "regular expression is too complex",
            ),
            _ => invalid("invalid pattern"),
        })
}

/// Rust regex text for a PostgreSQL ARE `pattern` under `options`
/// (including the embedded options a pattern may start with).
fn translate(pattern: &str, mut options: Options, extents: bool) -> Result<String> {
    let mut p = pattern;
    // Directors and embedded options.
    if let Some(rest) = p.strip_prefix("***=") {
        options.literal = true;
        p = rest;
    } else if let Some(rest) = p.strip_prefix("***:") {
        p = rest;
    }
    if !options.literal {
        if let Some(rest) = p.strip_prefix("(?") {
            if let Some(close) = rest.find(')') {
                let letters = &rest[..close];
                if letters.chars().all(|c| c.is_ascii_alphabetic()) && !letters.is_empty() {
                    for c in letters.chars() {
                        apply_option(&mut options, c)
                            .map_err(|_| invalid("invalid embedded option"))??;
                    }
                    p = &rest[close + 1..];
                }
            }
        }
    }
    let mut out = String::with_capacity(p.len() + 16);
    out.push_str("(?");
    if options.case_insensitive {
        out.push('i');
    }
    if !options.dot_stops_at_newline {
        out.push('s');
    }
    if options.anchors_at_lines {
        out.push('m');
    }
    out.push(')');
    if options.literal {
        out.push_str(&regex::escape(p));
        return Ok(out);
    }
    let chars: Vec<char> = p.chars().collect();
    let mut shape = Shape::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err(invalid("invalid escape \\ sequence"));
                };
                i += 2;
                match e {
                    'm' => out.push_str(r"\b{start}"),
                    'M' => out.push_str(r"\b{end}"),
                    'y' => out.push_str(r"\b"),
                    'Y' => out.push_str(r"\B"),
                    'A' => out.push_str(r"\A"),
                    'Z' => out.push_str(r"\z"),
                    'B' => out.push_str(r"\\"),
                    'e' => out.push_str(r"\x1B"),
                    'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'n' | 't' | 'r' | 'f' | 'v' | 'a' => {
                        out.push('\\');
                        out.push(e);
                        if matches!(e, 'd' | 'D' | 's' | 'S' | 'w' | 'W') {
                            shape.atom();
                        }
                    }
                    '1'..='9' => {
                        return Err(invalid(
                            "back-references are not supported by Tessera's regular expressions",
                        ))
                    }
                    'u' | 'U' | 'x' => {
                        let max = match e {
                            'u' => 4,
                            'U' => 8,
                            _ => 8,
                        };
                        let mut hex = String::new();
                        while hex.len() < max && chars.get(i).is_some_and(|c| c.is_ascii_hexdigit())
                        {
                            hex.push(chars[i]);
                            i += 1;
                        }
                        if hex.is_empty() || (e != 'x' && hex.len() != max) {
                            return Err(invalid("invalid escape \\ sequence"));
                        }
                        out.push_str(&format!("\\x{{{hex}}}"));
                        shape.atom();
                    }
                    c if c.is_ascii_alphanumeric() => {
                        return Err(invalid("invalid escape \\ sequence"))
                    }
                    other => {
                        out.push_str(&regex::escape(&other.to_string()));
                        shape.atom();
                    }
                }
                continue;
            }
            '[' => {
                let end = bracket(&chars, i, &mut out, options)?;
                i = end;
                shape.atom();
                continue;
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    match chars.get(i + 2) {
                        Some(':') => {
                            out.push_str("(?:");
                            i += 3;
                        }
                        Some('=' | '!' | '<') => {
                            return Err(invalid(
                                "look-ahead and look-behind constraints are not supported by Tessera's regular expressions",
                            ))
                        }
                        _ => return Err(invalid("quantifier operand invalid")),
                    }
                } else {
                    out.push('(');
                    i += 1;
                }
                depth += 1;
                shape.open();
                continue;
            }
            ')' => {
                if depth == 0 {
                    return Err(invalid("parentheses () not balanced"));
                }
                depth -= 1;
                out.push(')');
                shape.close();
            }
            '|' => {
                shape.alternation = true;
                out.push('|');
            }
            '*' | '+' | '?' | '{' => {
                let (text, next, min, max) = quantifier(&chars, i)?;
                let lazy = chars.get(next) == Some(&'?');
                out.push_str(&text);
                if lazy {
                    out.push('?');
                    shape.lazy = true;
                }
                shape.quantified(min, max);
                i = if lazy { next + 1 } else { next };
                continue;
            }
            '.' => {
                out.push('.');
                shape.atom();
            }
            '^' | '$' => out.push(c),
            '#' | ' ' | '\t' | '\n' if options.expanded => {
                if c == '#' {
                    while i < chars.len() && chars[i] != '\n' {
                        i += 1;
                    }
                    continue;
                }
            }
            other => {
                out.push_str(&regex::escape(&other.to_string()));
                shape.atom();
            }
        }
        i += 1;
    }
    if depth != 0 {
        return Err(invalid("parentheses () not balanced"));
    }
    if extents {
        shape.check()?;
    }
    Ok(out)
}

/// What decides whether a pattern's match extents can differ between
/// preference order and PostgreSQL's longest match.
#[derive(Default)]
struct Shape {
    alternation: bool,
    lazy: bool,
    /// A variable-length quantifier has been seen.
    variable_seen: bool,
    /// An optional (minimum 0) quantifier came after a variable one.
    optional_after_variable: bool,
    /// Whether the last atom (or group) is a group, for nested quantifiers.
    groups: Vec<bool>,
    group_has_variable: Vec<bool>,
    last_group_variable: bool,
    last_is_group: bool,
}

impl Shape {
    fn atom(&mut self) {
        self.last_is_group = false;
    }
    fn open(&mut self) {
        self.groups.push(self.variable_seen);
        self.group_has_variable.push(false);
        self.last_is_group = false;
    }
    fn close(&mut self) {
        self.groups.pop();
        self.last_group_variable = self.group_has_variable.pop().unwrap_or(false);
        if self.last_group_variable {
            if let Some(outer) = self.group_has_variable.last_mut() {
                *outer = true;
            }
        }
        self.last_is_group = true;
    }
    fn quantified(&mut self, min: u32, max: Option<u32>) {
        let variable = max != Some(min);
        if min == 0 && self.variable_seen {
            self.optional_after_variable = true;
        }
        // A variable quantifier over a group with one inside.
        if variable && self.last_is_group && self.last_group_variable {
            self.optional_after_variable = true;
        }
        if variable {
            self.variable_seen = true;
            if let Some(g) = self.group_has_variable.last_mut() {
                *g = true;
            }
        }
        self.last_is_group = false;
    }
    fn check(&self) -> Result<()> {
        let why = if self.alternation {
            "alternation (|)"
        } else if self.lazy {
            "non-greedy quantifiers"
        } else if self.optional_after_variable {
            "an optional part after a variable-length one"
        } else {
            return Ok(());
        };
        Err(Error::unsupported(format!(
            "a regular expression with {why} where the match's extent matters (PostgreSQL takes the longest match)"
        )))
    }
}

/// A quantifier at `i`: its Rust text, the index after it, and its bounds.
fn quantifier(chars: &[char], i: usize) -> Result<(String, usize, u32, Option<u32>)> {
    Ok(match chars[i] {
        '*' => ("*".into(), i + 1, 0, None),
        '+' => ("+".into(), i + 1, 1, None),
        '?' => ("?".into(), i + 1, 0, Some(1)),
        _ => {
            let close = chars[i..]
                .iter()
                .position(|c| *c == '}')
                .map(|p| p + i)
                .ok_or_else(|| invalid("braces {} not balanced"))?;
            let body: String = chars[i + 1..close].iter().collect();
            let bad = || invalid("invalid repetition count(s)");
            let (min, max) = match body.split_once(',') {
                None => {
                    let n: u32 = body.parse().map_err(|_| bad())?;
                    (n, Some(n))
                }
                Some((a, "")) => (a.parse().map_err(|_| bad())?, None),
                Some((a, b)) => (
                    a.parse().map_err(|_| bad())?,
                    Some(b.parse().map_err(|_| bad())?),
                ),
            };
            if max.is_some_and(|m| m < min) || min > 255 || max.is_some_and(|m| m > 255) {
                return Err(bad());
            }
            (format!("{{{body}}}"), close + 1, min, max)
        }
    })
}

/// Copies the bracket expression starting at `start` ('['), returning the
/// index after it. POSIX classes pass through; `[[:<:]]` and `[[:>:]]` are
/// word boundaries; in newline-sensitive mode a negated set excludes newline.
fn bracket(chars: &[char], start: usize, out: &mut String, options: Options) -> Result<usize> {
    let rest: String = chars[start..].iter().take(7).collect();
    if rest == "[[:<:]]" {
        out.push_str(r"\b{start}");
        return Ok(start + 7);
    }
    if rest == "[[:>:]]" {
        out.push_str(r"\b{end}");
        return Ok(start + 7);
    }
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        if options.dot_stops_at_newline {
            out.push_str(r"\n");
        }
        i += 1;
    }
    // A ']' first is a member.
    if chars.get(i) == Some(&']') {
        out.push_str(r"\]");
        i += 1;
    }
    while i < chars.len() {
        let c = chars[i];
        match c {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '[' if matches!(chars.get(i + 1), Some(':' | '.' | '=')) => {
                let kind = chars[i + 1];
                let close = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == kind && chars[j + 1] == ']')
                    .ok_or_else(|| invalid("brackets [] not balanced"))?;
                let name: String = chars[i + 2..close].iter().collect();
                if kind == ':' {
                    out.push_str(&format!("[:{name}:]"));
                } else {
                    // A collating element or equivalence class of one character.
                    let mut it = name.chars();
                    match (it.next(), it.next()) {
                        (Some(ch), None) => out.push_str(&regex::escape(&ch.to_string())),
                        _ => return Err(invalid("invalid collating element")),
                    }
                }
                i = close + 2;
                continue;
            }
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err(invalid("brackets [] not balanced"));
                };
                match e {
                    'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'n' | 't' | 'r' | 'f' | 'v' | 'a' => {
                        out.push('\\');
                        out.push(e);
                    }
                    'B' => out.push_str(r"\\"),
                    c if c.is_ascii_alphanumeric() => {
                        return Err(invalid("invalid escape \\ sequence"))
                    }
                    other => out.push_str(&regex::escape(&other.to_string())),
                }
                i += 2;
                continue;
            }
            '-' => out.push('-'),
            '[' | '&' | '~' | '^' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
        i += 1;
    }
    Err(invalid("brackets [] not balanced"))
}

/// Rust regex text for a SIMILAR TO pattern: anchored at both ends, `%`
/// and `_` as `.*` and `.`, the escape character quoting the next one,
/// the regular expression operators kept and other characters literal.
fn similar_to_regex(pattern: &str, escape: Option<char>) -> Result<String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    out.push_str("(?s)^(?:");
    let mut chars = pattern.chars();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            let Some(next) = chars.next() else {
                return Err(
                    Error::new(sqlstate::INVALID_ESCAPE_SEQUENCE, "invalid escape string")
                        .with_hint("Escape string must be empty or one character."),
                );
            };
            out.push_str(&regex::escape(&next.to_string()));
            continue;
        }
        if in_bracket {
            match c {
                ']' => {
                    in_bracket = false;
                    out.push(']');
                }
                '\\' | '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                other => out.push(other),
            }
            continue;
        }
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '[' => {
                in_bracket = true;
                out.push('[');
            }
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")$");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> String {
        translate(p, Options::default(), false).unwrap()
    }

    #[test]
    fn translates_postgres_escapes() {
        assert_eq!(t(r"\mfoo\M"), r"(?s)\b{start}foo\b{end}");
        assert_eq!(t(r"[[:<:]]a\y"), r"(?s)\b{start}a\b");
        assert_eq!(t(r"[\d\s]x\B"), r"(?s)[\d\s]x\\");
        assert!(translate(r"(a)\1", Options::default(), false).is_err());
        assert!(translate(r"a(?=b)", Options::default(), false).is_err());
    }

    #[test]
    fn refuses_extents_that_can_differ() {
        assert!(translate("a|ab", Options::default(), true).is_err());
        assert!(translate("a+?", Options::default(), true).is_err());
        assert!(translate("a*(ab)?", Options::default(), true).is_err());
        assert!(translate("(a+)+", Options::default(), true).is_err());
        assert!(translate(r"(\w+)\s(\w+)", Options::default(), true).is_ok());
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn refuses_what_postgres_would_match_differently() {
        let m = PatternFn::Match {
            case_insensitive: false,
            negated: false,
        };
        let code = |f: PatternFn, args: &[Value]| f.eval(args).unwrap_err().code;
        assert_eq!(
            code(m, &[text("aa"), text(r"(a)\1")]),
            sqlstate::INVALID_REGULAR_EXPRESSION
        );
        assert_eq!(
            code(m, &[text("ab"), text("a(?=b)")]),
            sqlstate::INVALID_REGULAR_EXPRESSION
        );
        let replace = [text("ab"), text("a|ab"), text("x")];
        assert_eq!(
            code(PatternFn::RegexpReplace, &replace),
            sqlstate::FEATURE_NOT_SUPPORTED
        );
        // Whether it matches does not depend on the extent: allowed.
        assert_eq!(
            m.eval(&[text("ab"), text("a|ab")]).unwrap(),
            Value::Bool(true)
        );
    }

    #[test]
    fn similar_to_is_anchored() {
        assert_eq!(
            similar_to_regex("a%b_", Some('\\')).unwrap(),
            r"(?s)^(?:a.*b.)$"
        );
        assert_eq!(
            similar_to_regex(r"a\%", Some('\\')).unwrap(),
            r"(?s)^(?:a%)$"
        );
    }
}
