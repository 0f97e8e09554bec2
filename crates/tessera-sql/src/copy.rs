//! COPY's options, checked as PostgreSQL 15's `ProcessCopyOptions` checks
//! them, into a [`CopySpec`]: the format, its characters and strings, and
//! the columns a COPY reads or writes.
//!
//! The parser reads both spellings, `WITH (FORMAT csv, HEADER true)` and
//! the pre-9.0 `CSV HEADER DELIMITER ','`, into one list of
//! [`CopyOption`]s; this module validates that list once. The data formats
//! themselves (text, CSV, binary) are read and written by the wire
//! protocol's session, which owns the value encodings (see
//! `tessera_pgwire::copy`); rows read there are inserted through the
//! INSERT path (`Router::copy_rows`), so defaults, constraints, keys and
//! sharding are INSERT's.
//!
//! Not done: COPY to or from a file or a program on the server (0A000),
//! `WHERE` on COPY FROM, `HEADER MATCH`, encodings other than UTF-8.

use tessera_types::{sqlstate, DataType, Error, Result};

/// One option as written, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyOption {
    /// Lower case: `format`, `delimiter`, `force_quote`…
    pub name: String,
    pub value: CopyOptionValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CopyOptionValue {
    /// No argument (`HEADER`, `FREEZE`).
    None,
    /// A word, a string or a number, as text.
    Text(String),
    /// A list of column names.
    Columns(Vec<String>),
    /// `*` (FORCE_QUOTE *).
    Star,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyDirection {
    /// COPY … FROM STDIN: the client sends rows.
    From,
    /// COPY … TO STDOUT: the server sends rows.
    To,
}

/// A COPY's checked options and its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct CopySpec {
    pub direction: CopyDirection,
    pub format: CopyFormat,
    /// The field separator (one byte, ASCII).
    pub delimiter: u8,
    /// What stands for NULL (text and CSV).
    pub null: String,
    /// A header line: skipped on input, the column names on output.
    pub header: bool,
    /// CSV's quote and escape characters (one byte each).
    pub quote: u8,
    pub escape: u8,
    /// Per column: CSV output quotes every non-NULL value.
    pub force_quote: Vec<bool>,
    /// Per column: CSV input reads an unquoted NULL string as that string.
    pub force_not_null: Vec<bool>,
    /// Per column: CSV input reads a quoted NULL string as NULL too.
    pub force_null: Vec<bool>,
    /// The relation's name as error contexts show it (`COPY t, line 3`).
    pub relation: String,
    /// The columns read or written, in the order of the data.
    pub columns: Vec<(String, DataType)>,
}

/// How a COPY option's value reads as a boolean (PostgreSQL's
/// `defGetBoolean`: true/false, on/off, yes/no, 1/0; no value is true).
fn boolean(option: &CopyOption) -> Result<bool> {
    let text = match &option.value {
        CopyOptionValue::None => return Ok(true),
        CopyOptionValue::Text(t) => t.to_ascii_lowercase(),
        _ => String::new(),
    };
    match text.as_str() {
        "true" | "on" | "yes" | "1" | "t" | "y" => Ok(true),
        "false" | "off" | "no" | "0" | "f" | "n" => Ok(false),
        _ => Err(Error::new(
            sqlstate::SYNTAX_ERROR,
            format!("{} requires a Boolean value", option.name),
        )),
    }
}

fn string(option: &CopyOption) -> Result<String> {
    match &option.value {
        CopyOptionValue::Text(t) => Ok(t.clone()),
        _ => Err(Error::new(
            sqlstate::SYNTAX_ERROR,
            format!("{} requires a parameter", option.name),
        )),
    }
}

fn unsupported(message: &str) -> Error {
    Error::new(sqlstate::FEATURE_NOT_SUPPORTED, message)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(sqlstate::INVALID_PARAMETER_VALUE, message)
}

/// The characters a text-format delimiter may not be: they would read as
/// escapes or as the end-of-data marker.
const TEXT_DELIMITER_FORBIDDEN: &str = "\\.abcdefghijklmnopqrstuvwxyz0123456789";

impl CopySpec {
    /// Checks `options` for a COPY in `direction` of `columns` of
    /// `relation`, whose columns are all named in `relation_columns`.
    pub fn new(
        direction: CopyDirection,
        options: &[CopyOption],
        relation: String,
        relation_columns: &[String],
        columns: Vec<(String, DataType)>,
    ) -> Result<CopySpec> {
        let mut format = None;
        let mut freeze = None;
        let mut delimiter: Option<String> = None;
        let mut null: Option<String> = None;
        let mut header = None;
        let mut quote: Option<String> = None;
        let mut escape: Option<String> = None;
        let mut force_quote: Option<&CopyOptionValue> = None;
        let mut force_not_null: Option<&CopyOptionValue> = None;
        let mut force_null: Option<&CopyOptionValue> = None;
        let mut encoding = None;
        let redundant = || Error::new(sqlstate::SYNTAX_ERROR, "conflicting or redundant options");
        fn once<T>(slot: &mut Option<T>, value: T, redundant: impl Fn() -> Error) -> Result<()> {
            if slot.is_some() {
                return Err(redundant());
            }
            *slot = Some(value);
            Ok(())
        }
        for option in options {
            match option.name.as_str() {
                "format" => {
                    let name = string(option)?.to_ascii_lowercase();
                    let f = match name.as_str() {
                        "text" => CopyFormat::Text,
                        "csv" => CopyFormat::Csv,
                        "binary" => CopyFormat::Binary,
                        _ => return Err(invalid(format!("COPY format \"{name}\" not recognized"))),
                    };
                    once(&mut format, f, redundant)?;
                }
                "freeze" => once(&mut freeze, boolean(option)?, redundant)?,
                "delimiter" => once(&mut delimiter, string(option)?, redundant)?,
                "null" => once(&mut null, string(option)?, redundant)?,
                "header" => {
                    let on = match &option.value {
                        CopyOptionValue::Text(t) if t.eq_ignore_ascii_case("match") => {
                            return Err(Error::unsupported("HEADER MATCH"))
                        }
                        _ => boolean(option)?,
                    };
                    once(&mut header, on, redundant)?
                }
                "quote" => once(&mut quote, string(option)?, redundant)?,
                "escape" => once(&mut escape, string(option)?, redundant)?,
                "force_quote" => match &option.value {
                    v @ (CopyOptionValue::Columns(_) | CopyOptionValue::Star) => {
                        once(&mut force_quote, v, redundant)?
                    }
                    _ => {
                        return Err(Error::new(
                            sqlstate::SYNTAX_ERROR,
                            "argument to option \"force_quote\" must be a list of column names",
                        ))
                    }
                },
                "force_not_null" | "force_null" => {
                    let CopyOptionValue::Columns(_) = &option.value else {
                        return Err(Error::new(
                            sqlstate::SYNTAX_ERROR,
                            format!(
                                "argument to option \"{}\" must be a list of column names",
                                option.name
                            ),
                        ));
                    };
                    if option.name == "force_null" {
                        once(&mut force_null, &option.value, redundant)?
                    } else {
                        once(&mut force_not_null, &option.value, redundant)?
                    }
                }
                "encoding" => {
                    let name = string(option)?;
                    let cleaned: String = name
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_ascii_lowercase();
                    if !matches!(cleaned.as_str(), "utf8" | "unicode" | "sqlascii") {
                        return Err(Error::unsupported(format!("COPY ENCODING \"{name}\"")));
                    }
                    once(&mut encoding, name, redundant)?
                }
                "oids" => {
                    return Err(Error::new(
                        sqlstate::SYNTAX_ERROR,
                        "COPY with OIDS is not supported",
                    ))
                }
                other => {
                    return Err(Error::new(
                        sqlstate::SYNTAX_ERROR,
                        format!("option \"{other}\" not recognized"),
                    ))
                }
            }
        }
        let format = format.unwrap_or(CopyFormat::Text);
        let csv = format == CopyFormat::Csv;
        if format == CopyFormat::Binary {
            if delimiter.is_some() {
                return Err(Error::syntax("cannot specify DELIMITER in BINARY mode"));
            }
            if null.is_some() {
                return Err(Error::syntax("cannot specify NULL in BINARY mode"));
            }
            if header.is_some() {
                return Err(Error::syntax("cannot specify HEADER in BINARY mode"));
            }
        }
        let delimiter = delimiter.unwrap_or_else(|| if csv { "," } else { "\t" }.to_string());
        let null = null.unwrap_or_else(|| if csv { "" } else { "\\N" }.to_string());
        if delimiter.len() != 1 {
            return Err(unsupported(
                "COPY delimiter must be a single one-byte character",
            ));
        }
        let delimiter = delimiter.as_bytes()[0];
        if delimiter == b'\n' || delimiter == b'\r' {
            return Err(invalid(
                "COPY delimiter cannot be newline or carriage return",
            ));
        }
        if null.contains(['\r', '\n']) {
            return Err(invalid(
                "COPY null representation cannot use newline or carriage return",
            ));
        }
        if format == CopyFormat::Text && TEXT_DELIMITER_FORBIDDEN.as_bytes().contains(&delimiter) {
            return Err(invalid(format!(
                "COPY delimiter cannot be \"{}\"",
                delimiter as char
            )));
        }
        if !csv && quote.is_some() {
            return Err(unsupported("COPY quote available only in CSV mode"));
        }
        let quote = quote.unwrap_or_else(|| "\"".to_string());
        if quote.len() != 1 {
            return Err(unsupported(
                "COPY quote must be a single one-byte character",
            ));
        }
        let quote = quote.as_bytes()[0];
        if csv && delimiter == quote {
            return Err(invalid("COPY delimiter and quote must be different"));
        }
        if !csv && escape.is_some() {
            return Err(unsupported("COPY escape available only in CSV mode"));
        }
        let escape = match escape {
            None => quote,
            Some(e) if e.len() == 1 => e.as_bytes()[0],
            Some(_) => {
                return Err(unsupported(
                    "COPY escape must be a single one-byte character",
                ))
            }
        };
        for (given, what, allowed) in [
            (force_quote, "force quote", CopyDirection::To),
            (force_not_null, "force not null", CopyDirection::From),
            (force_null, "force null", CopyDirection::From),
        ] {
            if given.is_none() {
                continue;
            }
            if !csv {
                return Err(unsupported(&format!(
                    "COPY {what} available only in CSV mode"
                )));
            }
            if direction != allowed {
                let using = match allowed {
                    CopyDirection::To => "COPY TO",
                    CopyDirection::From => "COPY FROM",
                };
                return Err(unsupported(&format!(
                    "COPY {what} only available using {using}"
                )));
            }
        }
        if null.as_bytes().contains(&delimiter) {
            return Err(unsupported(
                "COPY delimiter must not appear in the NULL specification",
            ));
        }
        if csv && null.as_bytes().contains(&quote) {
            return Err(unsupported(
                "CSV quote character must not appear in the NULL specification",
            ));
        }
        let flags = |given: Option<&CopyOptionValue>, option: &str| -> Result<Vec<bool>> {
            let mut flags = vec![false; columns.len()];
            match given {
                None => {}
                Some(CopyOptionValue::Star) => flags.fill(true),
                Some(CopyOptionValue::Columns(names)) => {
                    for name in names {
                        if !relation_columns.contains(name) {
                            return Err(Error::new(
                                sqlstate::UNDEFINED_COLUMN,
                                format!(
                                    "column \"{name}\" of relation \"{relation}\" does not exist"
                                ),
                            ));
                        }
                        let Some(i) = columns.iter().position(|(c, _)| c == name) else {
                            return Err(Error::new(
                                sqlstate::INVALID_COLUMN_REFERENCE,
                                format!("{option} column \"{name}\" not referenced by COPY"),
                            ));
                        };
                        flags[i] = true;
                    }
                }
                Some(_) => {}
            }
            Ok(flags)
        };
        Ok(CopySpec {
            direction,
            format,
            delimiter,
            null,
            header: header.unwrap_or(false),
            quote,
            escape,
            force_quote: flags(force_quote, "FORCE_QUOTE")?,
            force_not_null: flags(force_not_null, "FORCE_NOT_NULL")?,
            force_null: flags(force_null, "FORCE_NULL")?,
            relation,
            columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(name: &str, value: Option<&str>) -> CopyOption {
        CopyOption {
            name: name.into(),
            value: value.map_or(CopyOptionValue::None, |v| CopyOptionValue::Text(v.into())),
        }
    }

    fn spec(direction: CopyDirection, options: &[CopyOption]) -> Result<CopySpec> {
        CopySpec::new(
            direction,
            options,
            "t".into(),
            &["a".into(), "b".into(), "c".into()],
            vec![("a".into(), DataType::Int4), ("b".into(), DataType::Text)],
        )
    }

    #[test]
    fn defaults_follow_the_format() {
        let text = spec(CopyDirection::From, &[]).unwrap();
        assert_eq!((text.delimiter, text.null.as_str()), (b'\t', "\\N"));
        let csv = spec(CopyDirection::From, &[option("format", Some("CSV"))]).unwrap();
        assert_eq!((csv.delimiter, csv.null.as_str()), (b',', ""));
        assert_eq!((csv.quote, csv.escape), (b'"', b'"'));
    }

    #[test]
    fn bad_options_get_postgres_errors() {
        let code =
            |options: &[CopyOption], direction| spec(direction, options).unwrap_err().code.code();
        use CopyDirection::*;
        assert_eq!(code(&[option("format", Some("xml"))], From), "22023");
        assert_eq!(
            code(
                &[option("format", Some("binary")), option("null", Some("x"))],
                From
            ),
            "42601"
        );
        assert_eq!(code(&[option("delimiter", Some("ab"))], From), "0A000");
        assert_eq!(code(&[option("delimiter", Some("a"))], From), "22023");
        assert_eq!(code(&[option("quote", Some("'"))], From), "0A000");
        assert_eq!(
            code(&[option("header", None), option("header", None)], From),
            "42601"
        );
        assert_eq!(code(&[option("bogus", None)], From), "42601");
        let force = CopyOption {
            name: "force_quote".into(),
            value: CopyOptionValue::Columns(vec!["c".into()]),
        };
        assert_eq!(
            code(&[option("format", Some("csv")), force.clone()], To),
            "42P10"
        );
        assert_eq!(code(&[option("format", Some("csv")), force], From), "0A000");
    }
}
