//! A sqllogictest runner: parses `.slt`/`.test` files and runs them
//! against a server over the simple query protocol, record by record, so
//! that a file reports how many of its queries pass instead of stopping at
//! the first failure.
//!
//! The format is SQLite's: `statement ok|error [SQLSTATE]`, `query <types> [nosort|
//! rowsort|valuesort] [label]` followed by the SQL, `----` and the
//! expected values one per line (or `N values hashing to <md5>` once more
//! than `hash-threshold` values come back), `skipif`/`onlyif <engine>`
//! and `halt`. The engine is `postgresql`. Values print as the column's
//! type letter says: `I` as an integer (a fraction is truncated, as
//! sqllogictest's reference runner does), `R` with three decimals, `T` as
//! text with `(empty)` for the empty string; NULL is `NULL`.

use tessera_types::md5;
use tokio_postgres::{Client, SimpleQueryMessage};

const ENGINE: &str = "postgresql";

#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Ok,
    /// An error; with its SQLSTATE when the record names one
    /// (`statement error 42703`).
    Error(Option<String>),
    Query {
        types: String,
        sort: Sort,
        /// The expected values, one per entry, or a hash line.
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sort {
    No,
    Rows,
    Values,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line of the record's first line.
    pub line: usize,
    pub sql: String,
    pub expect: Expect,
}

/// What a file holds, in order; `halt` ends it.
#[derive(Debug, Default)]
pub struct Script {
    pub records: Vec<Record>,
    pub hash_threshold: usize,
}

/// Parses a script. Records for another engine (`onlyif` it, `skipif
/// postgresql`) are left out.
pub fn parse(text: &str) -> Result<Script, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut script = Script::default();
    let mut i = 0;
    let mut skip = false;
    while i < lines.len() {
        let line = strip_comment(lines[i]).trim_end();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {
                i += 1;
                continue;
            }
            ["skipif", engine, ..] => {
                skip |= *engine == ENGINE;
                i += 1;
                continue;
            }
            ["onlyif", engine, ..] => {
                skip |= *engine != ENGINE;
                i += 1;
                continue;
            }
            ["halt", ..] => {
                if skip {
                    skip = false;
                    i += 1;
                    continue;
                }
                break;
            }
            ["hash-threshold", n, ..] => {
                script.hash_threshold = n
                    .parse()
                    .map_err(|_| format!("line {}: bad hash-threshold", i + 1))?;
                i += 1;
                continue;
            }
            ["control", ..] => {
                i += 1;
                continue;
            }
            ["statement", kind, rest @ ..] => {
                let start = i;
                let expect = match *kind {
                    "ok" => Expect::Ok,
                    "error" => Expect::Error(rest.first().map(|c| c.to_string())),
                    other => return Err(format!("line {}: statement {other}", i + 1)),
                };
                i += 1;
                let mut sql = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    sql.push(lines[i]);
                    i += 1;
                }
                if !std::mem::take(&mut skip) {
                    script.records.push(Record {
                        line: start + 1,
                        sql: sql.join("\n"),
                        expect,
                    });
                }
            }
            ["query", types, rest @ ..] => {
                let start = i;
                let sort = sort_mode(rest);
                let (sql_end, next) = query_block(&lines, start);
                let values = lines[(sql_end + 1).min(next)..next]
                    .iter()
                    .map(|l| l.trim().to_string())
                    .collect();
                i = next;
                if !std::mem::take(&mut skip) {
                    script.records.push(Record {
                        line: start + 1,
                        sql: lines[start + 1..sql_end].join("\n"),
                        expect: Expect::Query {
                            types: types.to_string(),
                            sort,
                            values,
                        },
                    });
                }
            }
            _ => return Err(format!("line {}: cannot parse {line:?}", i + 1)),
        }
    }
    Ok(script)
}

fn sort_mode(options: &[&str]) -> Sort {
    match options.first() {
        Some(&"rowsort") => Sort::Rows,
        Some(&"valuesort") => Sort::Values,
        _ => Sort::No,
    }
}

/// For the query whose header is line `header`: where its SQL ends (the
/// `----` line or the blank after it) and the line after its results.
fn query_block(lines: &[&str], header: usize) -> (usize, usize) {
    let mut i = header + 1;
    while i < lines.len() && lines[i].trim() != "----" && !lines[i].trim().is_empty() {
        i += 1;
    }
    let sql_end = i;
    if i < lines.len() && lines[i].trim() == "----" {
        i += 1;
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    (sql_end, i)
}

fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return "";
    }
    // `skipif mysql # aggregate syntax:` carries a trailing comment.
    if trimmed.starts_with("skipif") || trimmed.starts_with("onlyif") {
        if let Some(at) = line.find('#') {
            return &line[..at];
        }
    }
    line
}

/// How a script went.
#[derive(Debug, Default)]
pub struct Outcome {
    pub passed: usize,
    pub failed: usize,
    /// The first failures: line, SQL and what went wrong.
    pub failures: Vec<String>,
}

/// Runs every record of `script` on `client`.
pub async fn run(script: &Script, client: &Client, keep_failures: usize) -> Outcome {
    let mut outcome = Outcome::default();
    for record in &script.records {
        match check(record, client, script.hash_threshold).await {
            Ok(()) => outcome.passed += 1,
            Err(why) => {
                outcome.failed += 1;
                if outcome.failures.len() < keep_failures {
                    outcome
                        .failures
                        .push(format!("line {}: {}\n  {why}", record.line, record.sql));
                }
            }
        }
    }
    outcome
}

async fn check(record: &Record, client: &Client, hash_threshold: usize) -> Result<(), String> {
    let result = client.simple_query(&record.sql).await;
    match (&record.expect, result) {
        (Expect::Ok, Ok(_)) => Ok(()),
        (Expect::Ok, Err(e)) => Err(format!("failed: {}", describe(&e))),
        (Expect::Error(_), Ok(_)) => Err("succeeded, expected an error".into()),
        (Expect::Error(code), Err(e)) => match (code, e.as_db_error()) {
            (Some(code), Some(db)) if db.code().code() != code => {
                Err(format!("expected {code}, got {}", describe(&e)))
            }
            _ => Ok(()),
        },
        (Expect::Query { .. }, Err(e)) => Err(format!("failed: {}", describe(&e))),
        (
            Expect::Query {
                types,
                sort,
                values: expected,
            },
            Ok(messages),
        ) => {
            let mut values = result_values(messages, types, *sort, 0)?;
            let hashed = expected.len() == 1 && expected[0].contains(" values hashing to ");
            if hashed || (hash_threshold > 0 && values.len() > hash_threshold) {
                values = vec![hash_line(&values)];
            }
            if values == *expected {
                Ok(())
            } else {
                Err(format!(
                    "got {:?}, expected {:?}",
                    shorten(&values),
                    shorten(expected)
                ))
            }
        }
    }
}

/// A query's rows as the values sqllogictest compares: formatted by the
/// column types, sorted as asked, hashed past `hash_threshold` values.
fn result_values(
    messages: Vec<SimpleQueryMessage>,
    types: &str,
    sort: Sort,
    hash_threshold: usize,
) -> Result<Vec<String>, String> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for m in messages {
        if let SimpleQueryMessage::Row(row) = m {
            if row.len() != types.len() {
                return Err(format!(
                    "{} columns came back, the record expects {}",
                    row.len(),
                    types.len()
                ));
            }
            rows.push(
                (0..row.len())
                    .map(|c| format_value(row.get(c), types.as_bytes()[c]))
                    .collect(),
            );
        }
    }
    let values: Vec<String> = match sort {
        Sort::Rows => {
            rows.sort();
            rows.into_iter().flatten().collect()
        }
        Sort::Values => {
            let mut v: Vec<String> = rows.into_iter().flatten().collect();
            v.sort();
            v
        }
        Sort::No => rows.into_iter().flatten().collect(),
    };
    if hash_threshold > 0 && values.len() > hash_threshold {
        return Ok(vec![hash_line(&values)]);
    }
    Ok(values)
}

fn hash_line(values: &[String]) -> String {
    let mut all = String::new();
    for v in values {
        all.push_str(v);
        all.push('\n');
    }
    format!(
        "{} values hashing to {}",
        values.len(),
        md5::hex(all.as_bytes())
    )
}

fn shorten(values: &[String]) -> Vec<String> {
    values.iter().take(12).cloned().collect()
}

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// A value as sqllogictest prints it for a column of type `kind`.
pub fn format_value(text: Option<&str>, kind: u8) -> String {
    let Some(text) = text else {
        return "NULL".into();
    };
    match kind {
        b'I' => match text.parse::<i64>() {
            Ok(i) => i.to_string(),
            Err(_) => match text.parse::<f64>() {
                Ok(f) => format!("{}", f.trunc() as i64),
                Err(_) => text.to_string(),
            },
        },
        b'R' => match text.parse::<f64>() {
            Ok(f) => format!("{f:.3}"),
            Err(_) => text.to_string(),
        },
        _ if text.is_empty() => "(empty)".into(),
        _ => text
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '@' })
            .collect(),
    }
}

/// Rewrites `text` with the results `client` (real PostgreSQL) gives:
/// each query's expected values are replaced, every statement is run in
/// order, and everything else (comments, conditions) is kept as written.
/// This is how the project's own `.slt` files get their expectations.
pub async fn complete(text: &str, client: &Client) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut hash_threshold = 0;
    let mut i = 0;
    while i < lines.len() {
        let words: Vec<&str> = strip_comment(lines[i]).split_whitespace().collect();
        match words.as_slice() {
            ["hash-threshold", n, ..] => {
                hash_threshold = n.parse().unwrap_or(0);
                out.push_str(lines[i]);
                out.push('\n');
                i += 1;
            }
            ["statement", kind, rest @ ..] => {
                let start = i;
                i += 1;
                while i < lines.len() && !lines[i].trim().is_empty() {
                    i += 1;
                }
                let sql = lines[start + 1..i].join("\n");
                let result = client.simple_query(&sql).await;
                match (*kind, result) {
                    ("ok", Err(e)) => {
                        return Err(format!("line {}: {}: {}", start + 1, sql, describe(&e)))
                    }
                    ("error", Ok(_)) => return Err(format!("line {}: {sql}: no error", start + 1)),
                    ("error", Err(e)) => {
                        let got = e.as_db_error().map(|db| db.code().code());
                        if let (Some(want), Some(got)) = (rest.first(), got) {
                            if *want != got {
                                return Err(format!(
                                    "line {}: {sql}: {}, not {want}",
                                    start + 1,
                                    describe(&e)
                                ));
                            }
                        }
                    }
                    _ => {}
                }
                for l in &lines[start..i] {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            ["query", types, rest @ ..] => {
                let start = i;
                let sort = sort_mode(rest);
                let (sql_end, next) = query_block(&lines, start);
                let sql = lines[start + 1..sql_end].join("\n");
                i = next;
                let messages = client
                    .simple_query(&sql)
                    .await
                    .map_err(|e| format!("line {}: {sql}: {}", start + 1, describe(&e)))?;
                let values = result_values(messages, types, sort, hash_threshold)?;
                for l in &lines[start..start + 1 + sql.lines().count()] {
                    out.push_str(l);
                    out.push('\n');
                }
                out.push_str("----\n");
                for v in values {
                    out.push_str(&v);
                    out.push('\n');
                }
            }
            _ => {
                out.push_str(lines[i]);
                out.push('\n');
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_and_engine_conditions() {
        let text = "hash-threshold 8\n\nstatement ok\nCREATE TABLE t(a INTEGER)\n\n\
                    skipif postgresql # not here\nquery I nosort\nSELECT 1\n----\n1\n\n\
                    onlyif mysql\nquery I nosort\nSELECT 2\n----\n2\n\n\
                    query IT rowsort label-1\nSELECT a,\n 'x' FROM t\n----\n1\nx\n\n\
                    onlyif sqlite\nhalt\n\nstatement error\nSELECT nope\n\nhalt\n\nstatement ok\nSELECT 3\n";
        let script = parse(text).unwrap();
        assert_eq!(script.hash_threshold, 8);
        let kinds: Vec<(usize, &Expect)> =
            script.records.iter().map(|r| (r.line, &r.expect)).collect();
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert_eq!(script.records[1].sql, "SELECT a,\n 'x' FROM t");
        assert_eq!(
            script.records[1].expect,
            Expect::Query {
                types: "IT".into(),
                sort: Sort::Rows,
                values: vec!["1".into(), "x".into()],
            }
        );
        assert_eq!(script.records[2].expect, Expect::Error(None));
    }

    #[test]
    fn values_print_by_column_type() {
        assert_eq!(format_value(None, b'I'), "NULL");
        assert_eq!(format_value(Some("-12"), b'I'), "-12");
        assert_eq!(format_value(Some("12.75"), b'I'), "12");
        assert_eq!(format_value(Some("-0.5"), b'I'), "0");
        assert_eq!(format_value(Some("2"), b'R'), "2.000");
        assert_eq!(format_value(Some(""), b'T'), "(empty)");
        assert_eq!(format_value(Some("a\tb"), b'T'), "a@b");
    }
}
