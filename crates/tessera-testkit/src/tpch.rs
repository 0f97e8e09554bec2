//! TPC-H: the schema, a loader fed by the `tpchgen` generator (the data
//! `tpchgen-cli` writes, row for row), the 22 queries with the
//! specification's validation parameters, and a runner that times them
//! and compares their answers with saved ones.
//!
//! The loader speaks plain SQL (multi-row `INSERT`s over several
//! connections), so the same code loads Tessera and PostgreSQL.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// `CREATE TABLE` statements for the eight tables, with their primary keys.
pub const SCHEMA: &str = include_str!("../tpch/schema.sql");

/// The tables in load order (small ones first).
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

const QUERIES: [&str; 22] = [
    include_str!("../tpch/q01.sql"),
    include_str!("../tpch/q02.sql"),
    include_str!("../tpch/q03.sql"),
    include_str!("../tpch/q04.sql"),
    include_str!("../tpch/q05.sql"),
    include_str!("../tpch/q06.sql"),
    include_str!("../tpch/q07.sql"),
    include_str!("../tpch/q08.sql"),
    include_str!("../tpch/q09.sql"),
    include_str!("../tpch/q10.sql"),
    include_str!("../tpch/q11.sql"),
    include_str!("../tpch/q12.sql"),
    include_str!("../tpch/q13.sql"),
    include_str!("../tpch/q14.sql"),
    include_str!("../tpch/q15.sql"),
    include_str!("../tpch/q16.sql"),
    include_str!("../tpch/q17.sql"),
    include_str!("../tpch/q18.sql"),
    include_str!("../tpch/q19.sql"),
    include_str!("../tpch/q20.sql"),
    include_str!("../tpch/q21.sql"),
    include_str!("../tpch/q22.sql"),
];

/// Rows per `INSERT` statement while loading.
const BATCH: usize = 500;

/// The text of query `n` (1 to 22); Q15 is three statements (create the
/// view, query it, drop it).
pub fn query(n: usize) -> &'static str {
    QUERIES[n - 1]
}

/// Where the saved answers for scale factor 0.1 live (`qNN.tsv`, made by
/// PostgreSQL 15 with `tpch run … --save`).
pub fn answers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tpch/answers-sf0.1")
}

/// The rows of `table` in TBL form (`a|b|…|`), for part `part` of `parts`
/// of the table at `scale`.
fn rows(table: &str, scale: f64, part: i32, parts: i32) -> Box<dyn Iterator<Item = String> + Send> {
    use tpchgen::generators::*;
    match table {
        "region" => Box::new(
            RegionGenerator::new(scale, part, parts)
                .iter()
                .map(|r| r.to_string()),
        ),
        "nation" => Box::new(
            NationGenerator::new(scale, part, parts)
                .iter()
                .map(|r| r.to_string()),
        ),
        "supplier" => Box::new(
            SupplierGenerator::new(scale, part, parts)
                .iter()
                .map(|r| r.to_string()),
        ),
        "customer" => Box::new(
            CustomerGenerator::new(scale, part, parts)
                .iter()
                .map(|r| r.to_string()),
        ),
        "part" => Box::new(
            PartGenerator::new(scale, part, parts)
                .iter()
                .map(|r| r.to_string()),
        ),
        "partsupp" => Box::new(
            PartSuppGenerator::new(scale, part, parts)
                .iter()
                .map(|r| r.to_string()),
        ),
        "orders" => Box::new(
            OrderGenerator::new(scale, part, parts)
                .iter()
                .map(|r| r.to_string()),
        ),
        "lineitem" => Box::new(
            LineItemGenerator::new(scale, part, parts)
                .iter()
                .map(|r| r.to_string()),
        ),
        other => panic!("no TPC-H table {other}"),
    }
}

/// Appends one TBL line as a parenthesised row of string literals (the
/// server casts each to its column's type).
fn push_row(sql: &mut String, line: &str) {
    sql.push('(');
    let line = line.strip_suffix('|').unwrap_or(line);
    for (i, field) in line.split('|').enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('\'');
        for c in field.chars() {
            if c == '\'' {
                sql.push('\'');
            }
            sql.push(c);
        }
        sql.push('\'');
    }
    sql.push(')');
}

async fn connect(conninfo: &str) -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(conninfo, NoTls)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Loads one part of one table over its own connection; returns the rows
/// stored.
async fn load_part(
    conninfo: String,
    table: &'static str,
    scale: f64,
    part: i32,
    parts: i32,
) -> Result<u64, String> {
    let client = connect(&conninfo).await?;
    let mut sql = String::new();
    let mut in_batch = 0;
    let mut total = 0u64;
    let mut lines = rows(table, scale, part, parts);
    loop {
        let line = lines.next();
        if let Some(line) = &line {
            if in_batch == 0 {
                sql.clear();
                let _ = write!(sql, "INSERT INTO {table} VALUES ");
            } else {
                sql.push_str(", ");
            }
            push_row(&mut sql, line);
            in_batch += 1;
        }
        if in_batch > 0 && (in_batch == BATCH || line.is_none()) {
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| format!("loading {table}: {}", error_text(&e)))?;
            total += in_batch as u64;
            in_batch = 0;
        }
        if line.is_none() {
            return Ok(total);
        }
    }
}

/// Creates the schema and loads every table at `scale` over `jobs`
/// connections at a time; returns (table, rows) in load order.
pub async fn load(conninfo: &str, scale: f64, jobs: usize) -> Result<Vec<(String, u64)>, String> {
    let client = connect(conninfo).await?;
    client
        .batch_execute(SCHEMA)
        .await
        .map_err(|e| format!("creating the schema: {}", error_text(&e)))?;
    let jobs = jobs.max(1);
    let mut loaded = Vec::new();
    for table in TABLES {
        let parts = if matches!(table, "region" | "nation") {
            1
        } else {
            jobs as i32
        };
        let tasks: Vec<_> = (1..=parts)
            .map(|part| tokio::spawn(load_part(conninfo.to_string(), table, scale, part, parts)))
            .collect();
        let mut rows = 0;
        for task in tasks {
            rows += task.await.map_err(|e| format!("loader task: {e}"))??;
        }
        loaded.push((table.to_string(), rows));
    }
    client
        .batch_execute("ANALYZE")
        .await
        .or_else(|e| match e.code() {
            // A server without ANALYZE still runs the queries.
            Some(code) if code.code() == "0A000" || code.code() == "42601" => Ok(()),
            _ => Err(e),
        })
        .map_err(|e| format!("ANALYZE: {}", error_text(&e)))?;
    Ok(loaded)
}

/// The rows a query returned, one line per row, values tab-separated and
/// NULL as `NULL`.
pub type Answer = Vec<String>;

/// Runs query `n`'s statements in order; returns the rows of the one that
/// returns rows and the time all of them took.
pub async fn run(client: &Client, n: usize) -> Result<(Answer, Duration), String> {
    let start = Instant::now();
    let mut answer = None;
    for statement in query(n).split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let messages = client
            .simple_query(statement)
            .await
            .map_err(|e| error_text(&e))?;
        let mut rows = Vec::new();
        let mut returned_rows = false;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(_) => returned_rows = true,
                SimpleQueryMessage::Row(row) => {
                    returned_rows = true;
                    let values: Vec<&str> = (0..row.len())
                        .map(|i| row.get(i).unwrap_or("NULL"))
                        .collect();
                    rows.push(values.join("\t"));
                }
                _ => {}
            }
        }
        if returned_rows {
            answer = Some(rows);
        }
    }
    Ok((answer.unwrap_or_default(), start.elapsed()))
}

/// Reads a saved answer (`qNN.tsv` in `dir`).
pub fn read_answer(dir: &Path, n: usize) -> Result<Answer, String> {
    let path = dir.join(format!("q{n:02}.tsv"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Saves an answer as `qNN.tsv` in `dir`.
pub fn write_answer(dir: &Path, n: usize, answer: &Answer) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("q{n:02}.tsv"));
    let mut text = answer.join("\n");
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Describes how `got` differs from `want` (the first differing row), or
/// `None` when they are the same.
pub fn compare(want: &Answer, got: &Answer) -> Option<String> {
    if want == got {
        return None;
    }
    if want.len() != got.len() {
        return Some(format!("{} rows, expected {}", got.len(), want.len()));
    }
    let (i, (w, g)) = want
        .iter()
        .zip(got)
        .enumerate()
        .find(|(_, (w, g))| w != g)?;
    Some(format!("row {}: got\n  {g}\nexpected\n  {w}", i + 1))
}

fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
