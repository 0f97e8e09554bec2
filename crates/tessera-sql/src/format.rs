//! `format()`, `quote_ident`, `quote_literal` and `quote_nullable`, as
//! PostgreSQL has them: `%s`, `%I`, `%L` and `%%`, positions (`%2$s`),
//! widths (`%10s`, `%-10s`, `%*s`, `%*2$s`), and PostgreSQL's errors
//! (22023 for a malformed format or too few arguments, 22004 for a NULL
//! identifier).

use tessera_types::{sqlstate, Error, Result};

/// The longest string `format` builds (as the string functions).
const RESULT_BYTES_MAX: usize = 256 << 20;

/// PostgreSQL's keywords that `quote_ident` quotes: the reserved ones, and
/// those that cannot be a function or type name or a column name.
const QUOTED_KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "json",
    "json_array",
    "json_arrayagg",
    "json_object",
    "json_objectagg",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// `quote_ident`: the name as is when it needs no quotes, else in double
/// quotes with inner ones doubled.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !QUOTED_KEYWORDS.contains(&name);
    if plain {
        return name.to_string();
    }
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `quote_literal`: in single quotes, inner ones doubled; with a
/// backslash, as an `E'…'` string with backslashes doubled.
pub fn quote_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 3);
    if text.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(sqlstate::INVALID_PARAMETER_VALUE, message)
}

fn unterminated() -> Error {
    bad("unterminated format() type specifier").with_hint("For a single \"%\" use \"%%\".")
}

fn too_few() -> Error {
    bad("too few arguments for format()")
}

/// `format(fmt, args…)`, the arguments already shown as text (`None` for
/// NULL), with `width_of(i)` reading argument `i` as a width.
pub fn format(
    fmt: &str,
    args: &[Option<String>],
    width_of: impl Fn(usize) -> Result<Option<i64>>,
) -> Result<String> {
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::with_capacity(fmt.len() + 16);
    let mut next_arg = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(&first) = chars.get(i) else {
            return Err(unterminated());
        };
        if first == '%' {
            out.push('%');
            i += 1;
            continue;
        }
        // [n$]
        let mut position = None;
        if let Some((n, after)) = number(&chars, i)? {
            if chars.get(after) == Some(&'$') {
                position = Some(argument_index(n)?);
                i = after + 1;
            }
        }
        // flags: only '-'
        let mut left = false;
        while chars.get(i) == Some(&'-') {
            left = true;
            i += 1;
        }
        // width: digits, or * or *n$
        let mut width: Option<i64> = None;
        if chars.get(i) == Some(&'*') {
            i += 1;
            let arg = match number(&chars, i)? {
                Some((n, after)) if chars.get(after) == Some(&'$') => {
                    i = after + 1;
                    argument_index(n)?
                }
                Some(_) => return Err(unterminated()),
                None => {
                    let a = next_arg;
                    next_arg += 1;
                    a
                }
            };
            if arg >= args.len() {
                return Err(too_few());
            }
            let w = width_of(arg)?.unwrap_or(0);
            if w < 0 {
                left = true;
            }
            width = Some(
                w.checked_abs()
                    .ok_or_else(|| bad("number is out of range"))?,
            );
        } else if let Some((n, after)) = number(&chars, i)? {
            width = Some(n);
            i = after;
        }
        let Some(&kind) = chars.get(i) else {
            return Err(unterminated());
        };
        i += 1;
        if !matches!(kind, 's' | 'I' | 'L') {
            return Err(
                bad(format!("unrecognized format() type specifier \"{kind}\""))
                    .with_hint("For a single \"%\" use \"%%\"."),
            );
        }
        let arg = match position {
            Some(p) => p,
            None => next_arg,
        };
        next_arg = arg + 1;
        let value = args.get(arg).ok_or_else(too_few)?;
        let shown = match (kind, value) {
            ('s', Some(v)) => v.clone(),
            ('s', None) => String::new(),
            ('I', Some(v)) => quote_ident(v),
            ('I', None) => {
                return Err(Error::new(
                    sqlstate::NULL_VALUE_NOT_ALLOWED,
                    "null values cannot be formatted as an SQL identifier",
                ))
            }
            (_, Some(v)) => quote_literal(v),
            (_, None) => "NULL".to_string(),
        };
        let pad = width
            .map(|w| (w as usize).saturating_sub(shown.chars().count()))
            .unwrap_or(0);
        if pad > RESULT_BYTES_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                "requested length too large",
            ));
        }
        if !left {
            out.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(&shown);
        if left {
            out.extend(std::iter::repeat_n(' ', pad));
        }
        if out.len() > RESULT_BYTES_MAX {
            return Err(Error::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                "requested length too large",
            ));
        }
    }
    Ok(out)
}

/// A decimal number at `i`, and the index after it.
fn number(chars: &[char], i: usize) -> Result<Option<(i64, usize)>> {
    let mut j = i;
    let mut n: i64 = 0;
    while let Some(d) = chars.get(j).and_then(|c| c.to_digit(10)) {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(d as i64))
            .filter(|n| *n <= i32::MAX as i64)
            .ok_or_else(|| bad("number is out of range"))?;
        j += 1;
    }
    Ok((j > i).then_some((n, j)))
}

/// A 1-based argument position as an index into the arguments after fmt.
fn argument_index(n: i64) -> Result<usize> {
    if n == 0 {
        return Err(bad(
            "format specifies argument 0, but arguments are numbered from 1",
        ));
    }
    Ok((n - 1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: &[Option<&str>]) -> Result<String> {
        let args: Vec<Option<String>> = args.iter().map(|a| a.map(String::from)).collect();
        let widths = args.clone();
        format(fmt, &args, move |i| {
            Ok(widths[i].as_deref().and_then(|w| w.parse().ok()))
        })
    }

    #[test]
    fn formats_like_postgres() {
        assert_eq!(
            f("%s-%I-%L", &[Some("a"), Some("B"), None]).unwrap(),
            "a-\"B\"-NULL"
        );
        assert_eq!(f("%2$s %1$s %s", &[Some("a"), Some("b")]).unwrap(), "b a b");
        assert_eq!(
            f("[%5s][%-5s]", &[Some("ab"), Some("cd")]).unwrap(),
            "[   ab][cd   ]"
        );
        assert_eq!(f("[%*s]", &[Some("-4"), Some("x")]).unwrap(), "[x   ]");
        assert!(f("%s %s", &[Some("a")]).is_err());
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_literal("it's \\"), "E'it''s \\\\'");
    }
}
