//! JSON: the parser behind `json` and `jsonb` input, and `jsonb`'s
//! decomposed form with PostgreSQL's rules — object keys unique (the last
//! one given wins) and kept in jsonb's order (shorter keys first, then by
//! bytes), numbers as `numeric`, and the text output with `": "` and `", "`
//! separators.
//!
//! `json` keeps the text as given (checked by the same parser); `jsonb`
//! stores a [`Jsonb`] tree.

use std::cmp::Ordering;
use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::numeric::Numeric;
use crate::sqlstate;

/// Nesting deeper than this is refused (54000), so that a hostile
/// document cannot exhaust a shard's stack: parsing, printing, comparing
/// and dropping a value all recurse. PostgreSQL's limit comes from its
/// stack size instead (about 6,000 levels by default); real documents
/// stay far below either.
pub const DEPTH_MAX: usize = 1000;

/// A `jsonb` value.
#[derive(Debug, Clone, PartialEq)]
pub enum Jsonb {
    Null,
    Bool(bool),
    Number(Numeric),
    String(String),
    Array(Vec<Jsonb>),
    /// Keys unique, in [`key_order`].
    Object(Vec<(String, Jsonb)>),
}

/// jsonb's order of object keys: shorter first, then bytewise.
pub fn key_order(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// 22P02 for text that is not JSON, worded as PostgreSQL words it.
fn invalid(ty: &str, detail: impl Into<String>) -> Error {
    Error::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {ty}"),
    )
    .with_detail(detail)
}

/// Checks that `text` is one JSON value (the `json` type's input).
pub fn validate(text: &str) -> Result<()> {
    Parser::new(text, "json").document().map(|_| ())
}

/// Parses `text` as `jsonb`.
pub fn parse(text: &str) -> Result<Jsonb> {
    // PostgreSQL names json in the errors of jsonb input too.
    Parser::new(text, "json").document()
}

/// The top level of a JSON text: where each member's value is written.
pub enum Members {
    Object(Vec<(String, std::ops::Range<usize>)>),
    Array(Vec<std::ops::Range<usize>>),
    Scalar,
}

/// Parses `text` (checking all of it) and tells where the values of its
/// top-level object or array are, so json's operators can return them as
/// written.
pub fn members(text: &str) -> Result<Members> {
    let mut p = Parser::new(text, "json");
    p.skip_space();
    let open = p.bytes.get(p.at).copied();
    let members = match open {
        Some(b'{') | Some(b'[') => {
            let object = open == Some(b'{');
            let close = if object { b'}' } else { b']' };
            p.at += 1;
            let mut pairs = Vec::new();
            let mut items = Vec::new();
            p.skip_space();
            if p.bytes.get(p.at) == Some(&close) {
                p.at += 1;
            } else {
                loop {
                    let key = if object { Some(p.key()?) } else { None };
                    p.skip_space();
                    let start = p.at;
                    p.value()?;
                    match key {
                        Some(k) => pairs.push((k, start..p.at)),
                        None => items.push(start..p.at),
                    }
                    p.skip_space();
                    match p.bytes.get(p.at) {
                        Some(b',') => p.at += 1,
                        Some(c) if *c == close => {
                            p.at += 1;
                            break;
                        }
                        _ => return Err(p.not_separator(close as char)),
                    }
                }
            }
            if object {
                Members::Object(pairs)
            } else {
                Members::Array(items)
            }
        }
        _ => {
            p.value()?;
            Members::Scalar
        }
    };
    p.skip_space();
    if p.at < p.bytes.len() {
        return Err(p.unexpected());
    }
    Ok(members)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    ty: &'static str,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, ty: &'static str) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            at: 0,
            ty,
        }
    }

    fn document(&mut self) -> Result<Jsonb> {
        let v = self.value()?;
        self.skip_space();
        if self.at < self.bytes.len() {
            return Err(self.unexpected());
        }
        Ok(v)
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The token at the cursor, for error details.
    fn token(&self) -> &'a str {
        let rest = &self.text[self.at..];
        let end = rest
            .char_indices()
            .find(|(i, c)| {
                *i > 0 && (c.is_whitespace() || matches!(c, ',' | ':' | ']' | '}' | '[' | '{'))
            })
            .map_or(rest.len(), |(i, _)| i);
        &rest[..end]
    }

    fn unexpected(&self) -> Error {
        if self.at >= self.bytes.len() {
            return invalid(self.ty, "The input string ended unexpectedly.");
        }
        invalid(self.ty, format!("Token \"{}\" is invalid.", self.token()))
    }

    fn expect_byte(&mut self, b: u8, what: &str) -> Result<()> {
        self.skip_space();
        if self.bytes.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else if self.at >= self.bytes.len() {
            Err(self.unexpected())
        } else {
            Err(invalid(
                self.ty,
                format!("Expected \"{what}\", but found \"{}\".", self.token()),
            ))
        }
    }

    /// What stands after a container's element instead of `,` or `close`.
    fn not_separator(&self, close: char) -> Error {
        if self.at >= self.bytes.len() {
            return self.unexpected();
        }
        invalid(
            self.ty,
            format!(
                "Expected \",\" or \"{close}\", but found \"{}\".",
                self.token()
            ),
        )
    }

    /// An object key and its colon, at the key's opening quote.
    fn key(&mut self) -> Result<String> {
        self.skip_space();
        if self.bytes.get(self.at) != Some(&b'"') {
            return Err(match self.at >= self.bytes.len() {
                true => self.unexpected(),
                false => invalid(
                    self.ty,
                    format!("Expected string, but found \"{}\".", self.token()),
                ),
            });
        }
        let key = self.string()?;
        self.expect_byte(b':', ":")?;
        Ok(key)
    }

    /// One value. Iterative, with the open containers on a heap stack, so
    /// that nesting costs no native stack.
    fn value(&mut self) -> Result<Jsonb> {
        enum Open {
            Array(Vec<Jsonb>),
            /// The pairs so far and the key whose value comes next.
            Object(Vec<(String, Jsonb)>, String),
        }
        let mut open: Vec<Open> = Vec::new();
        loop {
            if open.len() > DEPTH_MAX {
                return Err(Error::new(
                    sqlstate::PROGRAM_LIMIT_EXCEEDED,
                    format!("JSON nesting deeper than {DEPTH_MAX} levels"),
                ));
            }
            self.skip_space();
            let mut value = match self.bytes.get(self.at) {
                None => return Err(self.unexpected()),
                Some(b'{') => {
                    self.at += 1;
                    self.skip_space();
                    if self.bytes.get(self.at) == Some(&b'}') {
                        self.at += 1;
                        Jsonb::Object(Vec::new())
                    } else {
                        let key = self.key()?;
                        open.push(Open::Object(Vec::new(), key));
                        continue;
                    }
                }
                Some(b'[') => {
                    self.at += 1;
                    self.skip_space();
                    if self.bytes.get(self.at) == Some(&b']') {
                        self.at += 1;
                        Jsonb::Array(Vec::new())
                    } else {
                        open.push(Open::Array(Vec::new()));
                        continue;
                    }
                }
                Some(b'"') => Jsonb::String(self.string()?),
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => {
                    let word = self.token();
                    let v = match word {
                        "true" => Jsonb::Bool(true),
                        "false" => Jsonb::Bool(false),
                        "null" => Jsonb::Null,
                        _ => return Err(self.unexpected()),
                    };
                    self.at += word.len();
                    v
                }
            };
            // A value is complete: add it to its container, closing those
            // that end here, until one wants another value.
            loop {
                let Some(top) = open.last_mut() else {
                    return Ok(value);
                };
                self.skip_space();
                let next = self.bytes.get(self.at).copied();
                match top {
                    Open::Array(items) => {
                        items.push(value);
                        match next {
                            Some(b',') => {
                                self.at += 1;
                                break;
                            }
                            Some(b']') => {
                                self.at += 1;
                                value = match open.pop() {
                                    Some(Open::Array(items)) => Jsonb::Array(items),
                                    _ => return Err(Error::internal("json parser stack")),
                                };
                            }
                            _ => return Err(self.not_separator(']')),
                        }
                    }
                    Open::Object(pairs, key) => {
                        pairs.push((std::mem::take(key), value));
                        match next {
                            Some(b',') => {
                                self.at += 1;
                                *key = self.key()?;
                                break;
                            }
                            Some(b'}') => {
                                self.at += 1;
                                value = match open.pop() {
                                    Some(Open::Object(pairs, _)) => {
                                        Jsonb::Object(normalize_object(pairs))
                                    }
                                    _ => return Err(Error::internal("json parser stack")),
                                };
                            }
                            _ => return Err(self.not_separator('}')),
                        }
                    }
                }
            }
        }
    }

    fn number(&mut self) -> Result<Jsonb> {
        let start = self.at;
        let b = self.bytes;
        let mut i = self.at;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        let int_start = i;
        let int_digits = digits(&mut i);
        // JSON allows no leading zeros ("01") and needs a digit.
        let mut ok = int_digits > 0 && !(int_digits > 1 && b[int_start] == b'0');
        if ok && b.get(i) == Some(&b'.') {
            i += 1;
            ok = digits(&mut i) > 0;
        }
        if ok && matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            ok = digits(&mut i) > 0;
        }
        // A number runs into the next token only at a delimiter.
        if ok
            && b.get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.')
        {
            ok = false;
        }
        if !ok {
            return Err(self.unexpected());
        }
        self.at = i;
        let text = &self.text[start..i];
        Numeric::parse(text).map(Jsonb::Number).map_err(|_| {
            Error::new(
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                format!("value \"{text}\" is out of range for a jsonb number"),
            )
        })
    }

    fn string(&mut self) -> Result<String> {
        // At the opening quote.
        self.at += 1;
        let mut out = String::new();
        let mut run = self.at;
        loop {
            let Some(&c) = self.bytes.get(self.at) else {
                return Err(self.unexpected());
            };
            match c {
                b'"' => {
                    out.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run..self.at]);
                    self.escape(&mut out)?;
                    run = self.at;
                }
                0..=0x1f => {
                    let ch = c as char;
                    return Err(invalid(
                        self.ty,
                        format!("Character with value 0x{:02x} must be escaped.", ch as u32),
                    ));
                }
                _ => self.at += 1,
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<()> {
        // At the backslash.
        let c = self.bytes.get(self.at + 1).copied();
        self.at += 2;
        match c {
            Some(b'"') => out.push('"'),
            Some(b'\\') => out.push('\\'),
            Some(b'/') => out.push('/'),
            Some(b'b') => out.push('\u{8}'),
            Some(b'f') => out.push('\u{c}'),
            Some(b'n') => out.push('\n'),
            Some(b'r') => out.push('\r'),
            Some(b't') => out.push('\t'),
            Some(b'u') => {
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    // A high surrogate needs its low half next.
                    if self.bytes.get(self.at) == Some(&b'\\')
                        && self.bytes.get(self.at + 1) == Some(&b'u')
                    {
                        self.at += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&second) {
                            return Err(surrogate(self.ty));
                        }
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    } else {
                        return Err(surrogate(self.ty));
                    }
                } else if (0xDC00..0xE000).contains(&first) {
                    return Err(surrogate(self.ty));
                } else {
                    first
                };
                if code == 0 {
                    return Err(Error::new(
                        sqlstate::UNTRANSLATABLE_CHARACTER,
                        "unsupported Unicode escape sequence",
                    )
                    .with_detail("\\u0000 cannot be converted to text."));
                }
                out.push(char::from_u32(code).ok_or_else(|| surrogate(self.ty))?);
            }
            None => return Err(self.unexpected()),
            Some(_) => {
                let bad = &self.text[self.at - 2..];
                let end = bad.char_indices().nth(2).map_or(bad.len(), |(i, _)| i);
                return Err(invalid(
                    self.ty,
                    format!("Escape sequence \"{}\" is invalid.", &bad[..end]),
                ));
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes.get(self.at..self.at + 4);
        let value = digits
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| u32::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok());
        match value {
            Some(v) => {
                self.at += 4;
                Ok(v)
            }
            None => Err(invalid(
                self.ty,
                "\"\\u\" must be followed by four hexadecimal digits.",
            )),
        }
    }
}

fn surrogate(ty: &str) -> Error {
    invalid(ty, "Unicode low surrogate must follow a high surrogate.")
}

/// Sorts an object's pairs into jsonb's key order, the last of equal keys
/// winning.
pub fn normalize_object(mut pairs: Vec<(String, Jsonb)>) -> Vec<(String, Jsonb)> {
    // Stable: equal keys keep their input order, so the last is the one given last.
    pairs.sort_by(|a, b| key_order(&a.0, &b.0));
    let mut out: Vec<(String, Jsonb)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 = v,
            _ => out.push((k, v)),
        }
    }
    out
}

/// Writes a JSON string literal.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Jsonb {
    /// jsonb's text output.
    pub fn write_text(&self, out: &mut String) {
        match self {
            Jsonb::Null => out.push_str("null"),
            Jsonb::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Jsonb::Number(d) => {
                let _ = write!(out, "{d}");
            }
            Jsonb::String(s) => write_string(out, s),
            Jsonb::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write_text(out);
                }
                out.push(']');
            }
            Jsonb::Object(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_string(out, k);
                    out.push_str(": ");
                    v.write_text(out);
                }
                out.push('}');
            }
        }
    }

    /// A text form equal values share (numbers normalized: `1.0` is `1`),
    /// for keys.
    pub fn canonical(&self) -> String {
        fn normalized(j: &Jsonb) -> Jsonb {
            match j {
                Jsonb::Number(d) => Jsonb::Number(d.normalized()),
                Jsonb::Array(items) => Jsonb::Array(items.iter().map(normalized).collect()),
                Jsonb::Object(pairs) => Jsonb::Object(
                    pairs
                        .iter()
                        .map(|(k, v)| (k.clone(), normalized(v)))
                        .collect(),
                ),
                other => other.clone(),
            }
        }
        normalized(self).to_text()
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write_text(&mut s);
        s
    }

    /// `jsonb_typeof`'s name for the value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Jsonb::Null => "null",
            Jsonb::Bool(_) => "boolean",
            Jsonb::Number(_) => "number",
            Jsonb::String(_) => "string",
            Jsonb::Array(_) => "array",
            Jsonb::Object(_) => "object",
        }
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Jsonb> {
        match self {
            Jsonb::Object(pairs) => pairs
                .binary_search_by(|(k, _)| key_order(k, key))
                .ok()
                .map(|i| &pairs[i].1),
            _ => None,
        }
    }

    /// Element `i` of an array; a negative index counts from the end.
    pub fn index(&self, i: i64) -> Option<&Jsonb> {
        match self {
            Jsonb::Array(items) => {
                let n = items.len() as i64;
                let i = if i < 0 { n + i } else { i };
                usize::try_from(i).ok().and_then(|i| items.get(i))
            }
            _ => None,
        }
    }

    /// The value as `->>` gives it: strings unquoted, JSON null as SQL
    /// NULL (`None`), everything else as its text.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Jsonb::Null => None,
            Jsonb::String(s) => Some(s.clone()),
            other => Some(other.to_text()),
        }
    }

    /// `@>`: whether `self` contains `other`, by PostgreSQL's rules (an
    /// array contains the elements of another array in any order, and a
    /// scalar array element; an object contains a subset of its pairs,
    /// each containing recursively).
    pub fn contains(&self, other: &Jsonb) -> bool {
        match (self, other) {
            (Jsonb::Object(a), Jsonb::Object(b)) => b.iter().all(|(k, bv)| {
                a.binary_search_by(|(ak, _)| key_order(ak, k))
                    .is_ok_and(|i| a[i].1.contains_nested(bv))
            }),
            (Jsonb::Array(a), Jsonb::Array(b)) => {
                b.iter().all(|bv| a.iter().any(|av| av.contains_nested(bv)))
            }
            // A top-level array contains a scalar that is one of its elements.
            (Jsonb::Array(a), b) if b.is_scalar() => a.iter().any(|av| av == b),
            (a, b) => a.is_scalar() && a == b,
        }
    }

    /// Containment below the top level: a scalar is not contained in an
    /// array there.
    fn contains_nested(&self, other: &Jsonb) -> bool {
        match (self, other) {
            (Jsonb::Array(_), b) if b.is_scalar() => false,
            _ => self.contains(other),
        }
    }

    pub fn is_scalar(&self) -> bool {
        !matches!(self, Jsonb::Array(_) | Jsonb::Object(_))
    }

    /// `?`: a key of an object, a string element of an array, or the
    /// string itself.
    pub fn has_key(&self, key: &str) -> bool {
        match self {
            Jsonb::Object(_) => self.get(key).is_some(),
            Jsonb::Array(items) => items
                .iter()
                .any(|v| matches!(v, Jsonb::String(s) if s == key)),
            Jsonb::String(s) => s == key,
            _ => false,
        }
    }

    /// jsonb's sort order (btree opclass): objects above arrays above
    /// booleans above numbers above strings above null — except that an
    /// empty top-level array sorts below null; arrays and objects compare by
    /// length first, then element by element (objects by keys, then values).
    pub fn compare(&self, other: &Jsonb) -> Ordering {
        fn rank(v: &Jsonb) -> u8 {
            match v {
                Jsonb::Array(items) if items.is_empty() => 0,
                Jsonb::Null => 1,
                Jsonb::String(_) => 2,
                Jsonb::Number(_) => 3,
                Jsonb::Bool(_) => 4,
                Jsonb::Array(_) => 5,
                Jsonb::Object(_) => 6,
            }
        }
        match (self, other) {
            (Jsonb::String(a), Jsonb::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Jsonb::Number(a), Jsonb::Number(b)) => a.cmp(b),
            (Jsonb::Bool(a), Jsonb::Bool(b)) => a.cmp(b),
            (Jsonb::Array(a), Jsonb::Array(b)) if !a.is_empty() && !b.is_empty() => {
                a.len().cmp(&b.len()).then_with(|| {
                    a.iter()
                        .zip(b)
                        .map(|(x, y)| x.compare(y))
                        .find(|o| o.is_ne())
                        .unwrap_or(Ordering::Equal)
                })
            }
            (Jsonb::Object(a), Jsonb::Object(b)) => a.len().cmp(&b.len()).then_with(|| {
                a.iter()
                    .zip(b)
                    .map(|((ka, _), (kb, _))| key_order(ka, kb))
                    .find(|o| o.is_ne())
                    .or_else(|| {
                        a.iter()
                            .zip(b)
                            .map(|((_, va), (_, vb))| va.compare(vb))
                            .find(|o| o.is_ne())
                    })
                    .unwrap_or(Ordering::Equal)
            }),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// Hashing consistent with [`Jsonb::compare`]'s equality (numbers by
/// value: `1.0` and `1` are equal jsonb).
impl std::hash::Hash for Jsonb {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Jsonb::Null => 0u8.hash(state),
            Jsonb::Bool(b) => (1u8, b).hash(state),
            Jsonb::Number(d) => (2u8, d).hash(state),
            Jsonb::String(s) => (3u8, s).hash(state),
            Jsonb::Array(items) => {
                4u8.hash(state);
                items.hash(state);
            }
            Jsonb::Object(pairs) => {
                5u8.hash(state);
                pairs.hash(state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(text: &str) -> String {
        parse(text).unwrap().to_text()
    }

    #[test]
    fn output_is_postgresql_s() {
        assert_eq!(
            out(r#"{"b":1,"a":[1,2.50,{"x":null}],"aa":true}"#),
            r#"{"a": [1, 2.50, {"x": null}], "b": 1, "aa": true}"#
        );
        assert_eq!(out(r#"{"a":1,"a":2}"#), r#"{"a": 2}"#);
        assert_eq!(out(" [ ] "), "[]");
        assert_eq!(out(r#""\u00e9\n\"""#), "\"é\\n\\\"\"");
        assert_eq!(out("1e2"), "100");
        assert_eq!(out("-0.010"), "-0.010");
    }

    #[test]
    fn bad_input_is_22p02() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "tru",
            "\"a",
            "{1:2}",
            "[1 2]",
            "\"\\x\"",
            "\"\\ud800\"",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(
                e.code,
                sqlstate::INVALID_TEXT_REPRESENTATION,
                "{bad}: {e:?}"
            );
        }
        let deep = "[".repeat(DEPTH_MAX + 2);
        assert_eq!(
            parse(&deep).unwrap_err().code,
            sqlstate::PROGRAM_LIMIT_EXCEEDED
        );
        // The deepest value allowed parses, prints, compares and drops on
        // a test thread's stack.
        let text = format!("{}{}", "[".repeat(DEPTH_MAX), "]".repeat(DEPTH_MAX));
        let j = parse(&text).unwrap();
        assert_eq!(j.to_text().len(), text.len());
        assert_eq!(j.compare(&j.clone()), Ordering::Equal);
        assert!(j.contains(&j));
    }

    #[test]
    fn containment_and_keys() {
        let j = parse(r#"{"a": [1, 2, {"b": 3}], "c": "d"}"#).unwrap();
        assert!(j.contains(&parse(r#"{"a": [2]}"#).unwrap()));
        assert!(j.contains(&parse(r#"{"a": [{"b": 3}]}"#).unwrap()));
        assert!(!j.contains(&parse(r#"{"a": 1}"#).unwrap()));
        assert!(parse("[1, 2]").unwrap().contains(&parse("1").unwrap()));
        assert!(!parse("[[1, 2]]").unwrap().contains(&parse("[1]").unwrap()));
        assert!(j.has_key("c") && !j.has_key("d"));
        assert_eq!(
            j.get("a")
                .and_then(|a| a.index(-1))
                .map(Jsonb::to_text)
                .as_deref(),
            Some(r#"{"b": 3}"#)
        );
    }
}
