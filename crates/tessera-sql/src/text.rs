//! PostgreSQL's string functions: what they take, and what they return
//! for each input, errors included.

use tessera_types::datetime::TimeContext;
use tessera_types::{sqlstate, DataType, Error, Result, Value};

/// The longest string a function may build (PostgreSQL's limit is 1 GB;
/// a shard's memory is worth more than one value).
const RESULT_BYTES_MAX: usize = 256 << 20;

/// `upper(s)`: each character mapped to one, as PostgreSQL maps it with
/// `towupper` (so `ß` stays `ß`, where Unicode's full mapping says `SS`).
pub fn upper(s: &str) -> String {
    s.chars().map(upper_char).collect()
}

/// `lower(s)`: each character mapped to one (no final-sigma rule).
pub fn lower(s: &str) -> String {
    s.chars().map(lower_char).collect()
}

/// A character's simple (one to one) uppercase mapping. Rust gives the
/// full mapping; where that is one character it is the simple one, and
/// where it is several, the simple mapping is the character itself but
/// for the Greek letters with iota subscript, which map to their
/// capitals with a prosgegrammeni.
fn upper_char(c: char) -> char {
    let mut full = c.to_uppercase();
    match (full.next(), full.next()) {
        (Some(u), None) => u,
        _ => match c as u32 {
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                char::from_u32(c as u32 + 8).unwrap_or(c)
            }
            0x1FB3 => '\u{1FBC}',
            0x1FC3 => '\u{1FCC}',
            0x1FF3 => '\u{1FFC}',
            _ => c,
        },
    }
}

/// A character's simple lowercase mapping: the full one where that is
/// one character; `İ` (whose full mapping adds a combining dot) is `i`.
fn lower_char(c: char) -> char {
    let mut full = c.to_lowercase();
    match (full.next(), full.next()) {
        (Some(l), None) => l,
        (Some(first), Some(_)) if c == '\u{130}' => first,
        _ => c,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TextFn {
    /// `concat(any, …)`: NULLs left out.
    Concat,
    /// `concat_ws(separator, any, …)`.
    ConcatWs,
    Replace,
    Repeat,
    Reverse,
    Left,
    Right,
    Lpad,
    Rpad,
    SplitPart,
    Strpos,
    Initcap,
    Md5,
    Btrim,
    Ltrim,
    Rtrim,
    Substr,
    StartsWith,
    Translate,
    Ascii,
    Chr,
    /// `format(fmt, any, …)` (see [`crate::format`]).
    Format,
    QuoteIdent,
    /// `quote_literal(any)`: NULL for NULL.
    QuoteLiteral,
    /// `quote_nullable(any)`: `NULL` for NULL.
    QuoteNullable,
    /// `like_escape(pattern, escape)`: the pattern with `escape` as its
    /// escape character rewritten to use `\\` (what `LIKE … ESCAPE` is).
    LikeEscape,
    /// The text of an `int2vector` or `oidvector` (what a cast of one to
    /// text gives): its elements separated by blanks. Only the binder
    /// calls it; it has no SQL name.
    VectorOut,
    /// `"char"` to `integer`: the byte as a signed number, as PostgreSQL's
    /// int4("char"). Only the binder calls it; it has no SQL name.
    CharCode,
}

/// An argument's type in a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    Text,
    Int,
    /// Any type, shown as text (concat).
    Any,
}

impl TextFn {
    pub fn named(name: &str) -> Option<TextFn> {
        use TextFn::*;
        Some(match name {
            "concat" => Concat,
            "concat_ws" => ConcatWs,
            "replace" => Replace,
            "repeat" => Repeat,
            "reverse" => Reverse,
            "left" => Left,
            "right" => Right,
            "lpad" => Lpad,
            "rpad" => Rpad,
            "split_part" => SplitPart,
            "strpos" => Strpos,
            "initcap" => Initcap,
            "md5" => Md5,
            "btrim" => Btrim,
            "ltrim" => Ltrim,
            "rtrim" => Rtrim,
            "substr" => Substr,
            "starts_with" => StartsWith,
            "translate" => Translate,
            "ascii" => Ascii,
            "chr" => Chr,
            "format" => Format,
            "quote_ident" => QuoteIdent,
            "quote_literal" => QuoteLiteral,
            "quote_nullable" => QuoteNullable,
            "like_escape" => LikeEscape,
            _ => return None,
        })
    }

    /// The argument types for `n` arguments, if the function takes `n`,
    /// and the result type.
    pub fn signature(self, n: usize) -> Option<(Vec<Arg>, DataType)> {
        use Arg::*;
        use TextFn::*;
        let text = DataType::Text;
        let args = match (self, n) {
            (Concat, n) if n >= 1 => vec![Any; n],
            (ConcatWs, n) if n >= 2 => std::iter::once(Text)
                .chain(std::iter::repeat_n(Any, n - 1))
                .collect(),
            (Replace | Translate, 3) => vec![Text, Text, Text],
            (Repeat | Left | Right, 2) => vec![Text, Int],
            (Reverse | Initcap | Md5, 1) => vec![Text],
            (Lpad | Rpad, 2) => vec![Text, Int],
            (Lpad | Rpad, 3) => vec![Text, Int, Text],
            (SplitPart, 3) => vec![Text, Text, Int],
            (Strpos | StartsWith | LikeEscape, 2) => vec![Text, Text],
            (Btrim | Ltrim | Rtrim, 1) => vec![Text],
            (Btrim | Ltrim | Rtrim, 2) => vec![Text, Text],
            (Substr, 2) => vec![Text, Int],
            (Substr, 3) => vec![Text, Int, Int],
            (Ascii, 1) => vec![Text],
            (Chr, 1) => vec![Int],
            (Format, n) if n >= 1 => std::iter::once(Text)
                .chain(std::iter::repeat_n(Any, n - 1))
                .collect(),
            (QuoteIdent, 1) => vec![Text],
            (QuoteLiteral | QuoteNullable, 1) => vec![Any],
            (VectorOut, 1) => vec![Any],
            (CharCode, 1) => vec![Text],
            _ => return None,
        };
        let result = match self {
            Strpos | Ascii | CharCode => DataType::Int4,
            StartsWith => DataType::Bool,
            _ => text,
        };
        Some((args, result))
    }

    /// Whether a NULL argument makes the result NULL (all but concat).
    pub fn is_strict(self) -> bool {
        !matches!(
            self,
            TextFn::Concat | TextFn::ConcatWs | TextFn::Format | TextFn::QuoteNullable
        )
    }

    pub fn eval(self, args: &[Value], time: &TimeContext) -> Result<Value> {
        use TextFn::*;
        if self.is_strict() && args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let text = |i: usize| -> Result<&str> {
            match &args[i] {
                Value::Text(s) => Ok(s.as_str()),
                _ => Err(Error::internal("a string function's argument is not text")),
            }
        };
        let int = |i: usize| -> Result<i64> {
            args[i]
                .as_i64()
                .ok_or_else(|| Error::internal("a string function's argument is not an integer"))
        };
        let out = |s: String| -> Result<Value> {
            if s.len() > RESULT_BYTES_MAX {
                return Err(too_long());
            }
            Ok(Value::Text(s))
        };
        match self {
            Format => {
                let fmt = match &args[0] {
                    Value::Null => return Ok(Value::Null),
                    _ => text(0)?,
                };
                let rest = &args[1..];
                let shown = rest
                    .iter()
                    .map(|v| shown(v, time))
                    .collect::<Result<Vec<_>>>()?;
                let width_of = |i: usize| -> Result<Option<i64>> {
                    match &rest[i] {
                        Value::Null => Ok(None),
                        v => match v.as_i64() {
                            Some(n) => Ok(Some(n)),
                            None => match v.clone().cast_with(DataType::Int4, true, time)? {
                                Value::Int4(n) => Ok(Some(n as i64)),
                                _ => Ok(None),
                            },
                        },
                    }
                };
                out(crate::format::format(fmt, &shown, width_of)?)
            }
            QuoteIdent => out(crate::format::quote_ident(text(0)?)),
            QuoteLiteral | QuoteNullable => Ok(match shown(&args[0], time)? {
                Some(s) => Value::Text(crate::format::quote_literal(&s)),
                None => Value::Text("NULL".to_string()),
            }),
            Concat | ConcatWs => {
                let (sep, rest) = match self {
                    ConcatWs => match &args[0] {
                        Value::Null => return Ok(Value::Null),
                        _ => (text(0)?, &args[1..]),
                    },
                    _ => ("", args),
                };
                let mut parts = Vec::with_capacity(rest.len());
                for v in rest.iter().filter(|v| !v.is_null()) {
                    parts.push(match v {
                        Value::Text(s) => s.clone(),
                        // The type's output, as concat shows it.
                        Value::Bool(b) => if *b { "t" } else { "f" }.to_string(),
                        other => match other.clone().cast_with(DataType::Text, true, time)? {
                            Value::Text(s) => s,
                            _ => String::new(),
                        },
                    });
                }
                out(parts.join(sep))
            }
            Replace => {
                let (s, from, to) = (text(0)?, text(1)?, text(2)?);
                if from.is_empty() {
                    return out(s.to_string());
                }
                out(s.replace(from, to))
            }
            Repeat => {
                let (s, n) = (text(0)?, int(1)?);
                if n <= 0 || s.is_empty() {
                    return out(String::new());
                }
                if (s.len() as u128) * (n as u128) > RESULT_BYTES_MAX as u128 {
                    return Err(too_long());
                }
                out(s.repeat(n as usize))
            }
            Reverse => out(text(0)?.chars().rev().collect()),
            Left | Right => {
                let (s, n) = (text(0)?, int(1)?);
                let len = s.chars().count() as i64;
                let keep = if n >= 0 { n.min(len) } else { (len + n).max(0) } as usize;
                let r: String = match self {
                    Left => s.chars().take(keep).collect(),
                    _ => s.chars().skip(len as usize - keep).collect(),
                };
                out(r)
            }
            Lpad | Rpad => {
                let (s, n) = (text(0)?, int(1)?);
                let fill = if args.len() > 2 { text(2)? } else { " " };
                if n <= 0 {
                    return out(String::new());
                }
                if n as u64 > RESULT_BYTES_MAX as u64 {
                    return Err(too_long());
                }
                let n = n as usize;
                let len = s.chars().count();
                if len >= n || fill.is_empty() {
                    return out(s.chars().take(n).collect());
                }
                let pad: String = fill.chars().cycle().take(n - len).collect();
                out(match self {
                    Lpad => pad + s,
                    _ => s.to_string() + &pad,
                })
            }
            SplitPart => {
                let (s, delim, n) = (text(0)?, text(1)?, int(2)?);
                if n == 0 {
                    return Err(Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        "field position must not be zero",
                    ));
                }
                let parts: Vec<&str> = if delim.is_empty() {
                    vec![s]
                } else {
                    s.split(delim).collect()
                };
                let index = if n > 0 { n - 1 } else { parts.len() as i64 + n };
                out(usize::try_from(index)
                    .ok()
                    .and_then(|i| parts.get(i))
                    .map_or_else(String::new, |p| p.to_string()))
            }
            Strpos => {
                let (s, sub) = (text(0)?, text(1)?);
                Ok(Value::Int4(match s.find(sub) {
                    Some(byte) => s[..byte].chars().count() as i32 + 1,
                    None => 0,
                }))
            }
            StartsWith => Ok(Value::Bool(text(0)?.starts_with(text(1)?))),
            Initcap => {
                let mut r = String::with_capacity(text(0)?.len());
                let mut in_word = false;
                for c in text(0)?.chars() {
                    if c.is_alphanumeric() {
                        r.push(if in_word {
                            lower_char(c)
                        } else {
                            upper_char(c)
                        });
                        in_word = true;
                    } else {
                        r.push(c);
                        in_word = false;
                    }
                }
                out(r)
            }
            Md5 => out(tessera_types::md5::hex(text(0)?.as_bytes())),
            Btrim | Ltrim | Rtrim => {
                let s = text(0)?;
                let set: Vec<char> = if args.len() > 1 {
                    text(1)?.chars().collect()
                } else {
                    vec![' ']
                };
                let strip = |c: char| set.contains(&c);
                out(match self {
                    Btrim => s.trim_matches(strip),
                    Ltrim => s.trim_start_matches(strip),
                    _ => s.trim_end_matches(strip),
                }
                .to_string())
            }
            Substr => {
                let (s, from) = (text(0)?, int(1)?);
                let count = if args.len() > 2 { Some(int(2)?) } else { None };
                if count.is_some_and(|c| c < 0) {
                    return Err(Error::new(
                        sqlstate::SUBSTRING_ERROR,
                        "negative substring length not allowed",
                    ));
                }
                // Characters from position `from` (1-based, may be before
                // the start) for `count`.
                let end = count.map(|c| from.saturating_add(c));
                let start = from.max(1);
                let take = match end {
                    Some(e) if e <= start => 0,
                    Some(e) => (e - start) as usize,
                    None => usize::MAX,
                };
                out(s.chars().skip(start as usize - 1).take(take).collect())
            }
            Translate => {
                let (s, from, to) = (text(0)?, text(1)?, text(2)?);
                let from: Vec<char> = from.chars().collect();
                let to: Vec<char> = to.chars().collect();
                let mut r = String::with_capacity(s.len());
                for c in s.chars() {
                    match from.iter().position(|f| *f == c) {
                        Some(i) => {
                            if let Some(t) = to.get(i) {
                                r.push(*t);
                            }
                        }
                        None => r.push(c),
                    }
                }
                out(r)
            }
            Ascii => Ok(Value::Int4(text(0)?.chars().next().map_or(0, |c| c as i32))),
            LikeEscape => out(like_escape(text(0)?, text(1)?)?),
            VectorOut => match &args[0] {
                Value::Array(a) => out(tessera_types::value::vector_out(a)),
                _ => Err(Error::internal("a vector is not an array")),
            },
            CharCode => Ok(Value::Int4(
                tessera_types::value::internal_char_byte(text(0)?) as i8 as i32,
            )),
            Chr => {
                let n = int(0)?;
                if n == 0 {
                    return Err(Error::new(
                        sqlstate::PROGRAM_LIMIT_EXCEEDED,
                        "null character not permitted",
                    ));
                }
                let limit = |m: String| Error::new(sqlstate::PROGRAM_LIMIT_EXCEEDED, m);
                if n < 0 {
                    return Err(Error::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        "character number must be positive",
                    ));
                }
                if n > 0x10_FFFF {
                    return Err(limit(format!(
                        "requested character too large for encoding: {n}"
                    )));
                }
                // The UTF-16 surrogates are no characters.
                let c = u32::try_from(n)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        limit(format!("requested character not valid for encoding: {n}"))
                    })?;
                out(c.to_string())
            }
        }
    }
}

/// A value as its type's text output shows it; `None` for NULL.
fn shown(v: &Value, time: &TimeContext) -> Result<Option<String>> {
    Ok(match v {
        Value::Null => None,
        Value::Text(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "t" } else { "f" }.to_string()),
        other => match other.clone().cast_with(DataType::Text, true, time)? {
            Value::Text(s) => Some(s),
            _ => Some(String::new()),
        },
    })
}

fn too_long() -> Error {
    Error::new(
        sqlstate::PROGRAM_LIMIT_EXCEEDED,
        "requested length too large",
    )
}

/// PostgreSQL's `like_escape`: `pattern` with escape character `escape`
/// (one character, or none for `''`) rewritten to the default backslash
/// escape that LIKE reads.
fn like_escape(pattern: &str, escape: &str) -> Result<String> {
    let mut chars = escape.chars();
    let escape = match (chars.next(), chars.next()) {
        (None, _) => None,
        (Some(c), None) => Some(c),
        _ => {
            return Err(
                Error::new(sqlstate::INVALID_ESCAPE_SEQUENCE, "invalid escape string")
                    .with_hint("Escape string must be empty or one character."),
            )
        }
    };
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            // A trailing escape stays one, as PostgreSQL keeps it.
            out.push('\\');
            out.extend(chars.next());
        } else if c == '\\' {
            // Not the escape character: a literal backslash.
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: &str, args: Vec<Value>) -> Result<Value> {
        TextFn::named(f)
            .unwrap()
            .eval(&args, &TimeContext::default())
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn functions_follow_postgres() {
        assert_eq!(
            run("left", vec![t("abcde"), Value::Int4(-2)]).unwrap(),
            t("abc")
        );
        assert_eq!(
            run("right", vec![t("abcde"), Value::Int4(2)]).unwrap(),
            t("de")
        );
        assert_eq!(
            run("lpad", vec![t("hi"), Value::Int4(5), t("xy")]).unwrap(),
            t("xyxhi")
        );
        assert_eq!(
            run("rpad", vec![t("hello"), Value::Int4(3)]).unwrap(),
            t("hel")
        );
        assert_eq!(
            run("split_part", vec![t("a,b,c"), t(","), Value::Int4(-1)]).unwrap(),
            t("c")
        );
        assert_eq!(
            run("strpos", vec![t("héllo"), t("llo")]).unwrap(),
            Value::Int4(3)
        );
        assert_eq!(
            run("initcap", vec![t("hi THERE o'neil")]).unwrap(),
            t("Hi There O'Neil")
        );
        assert_eq!(
            run(
                "concat_ws",
                vec![t("-"), t("a"), Value::Null, Value::Int4(3)]
            )
            .unwrap(),
            t("a-3")
        );
        assert_eq!(
            run("substr", vec![t("hello"), Value::Int4(-1), Value::Int4(4)]).unwrap(),
            t("he")
        );
        assert!(run("repeat", vec![t("ab"), Value::Int4(i32::MAX)]).is_err());
        assert_eq!(
            run("split_part", vec![t("a"), t(","), Value::Int4(0)])
                .unwrap_err()
                .code,
            sqlstate::INVALID_PARAMETER_VALUE
        );
    }

    #[test]
    fn like_escape_rewrites_to_backslash() {
        assert_eq!(like_escape("pg/_%", "/").unwrap(), "pg\\_%");
        assert_eq!(like_escape("a\\b#%", "#").unwrap(), "a\\\\b\\%");
        assert_eq!(like_escape("a#", "#").unwrap(), "a\\");
        assert_eq!(like_escape("a\\b", "").unwrap(), "a\\\\b");
        assert_eq!(
            like_escape("a", "xy").unwrap_err().code,
            sqlstate::INVALID_ESCAPE_SEQUENCE
        );
    }
}
