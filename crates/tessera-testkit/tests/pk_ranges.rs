//! Ranges of the primary key as applications page with them: keyset
//! pagination through a prepared `WHERE (a, b) > ($1, $2) ORDER BY a, b
//! LIMIT 100` sees every row once, each page reads about LIMIT rows per
//! shard wherever it starts (EXPLAIN ANALYZE's row counts, not timing),
//! EXPLAIN shows the range, and other sessions' uncommitted rows stay out
//! of it. The answers themselves are checked against PostgreSQL's in
//! `slt/pk_ranges.slt`.

use tessera_testkit::TestServer;
use tokio_postgres::Client;

const ROWS: i32 = 20_000;
const PAGE: i64 = 100;

/// `pairs (a int, b int, v text, PRIMARY KEY (a, b))` with `ROWS` rows,
/// `a` from 0 to 540 and `b` from 0 to 36.
async fn fill(client: &Client) {
    client
        .batch_execute(&format!(
            "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b));
             INSERT INTO pairs SELECT g / 37, g % 37, 'v' || g FROM generate_series(0, {}) g",
            ROWS - 1
        ))
        .await
        .unwrap();
}

/// The rows the plan's line starting with `operator` reports under
/// EXPLAIN ANALYZE.
async fn analyzed_rows(client: &Client, sql: &str, operator: &str) -> u64 {
    let plan = explain(client, &format!("EXPLAIN ANALYZE {sql}")).await;
    let line = plan
        .lines()
        .find(|l| {
            l.trim_start()
                .trim_start_matches("->")
                .trim()
                .starts_with(operator)
        })
        .unwrap_or_else(|| panic!("no {operator} in\n{plan}"));
    let rows = line
        .split("rows=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or_else(|| panic!("no row count in {line}"));
    rows.parse().unwrap()
}

async fn explain(client: &Client, sql: &str) -> String {
    let rows = client.simple_query(sql).await.unwrap();
    rows.iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn keyset_pagination_sees_every_row_once_reading_a_page_per_shard() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    fill(&client).await;
    let page = client
        .prepare("SELECT a, b, v FROM pairs WHERE (a, b) > ($1, $2) ORDER BY a, b LIMIT 100")
        .await
        .unwrap();
    let mut seen: Vec<(i32, i32)> = Vec::with_capacity(ROWS as usize);
    let mut after = (-1, -1);
    let mut pages = 0;
    loop {
        let rows = client.query(&page, &[&after.0, &after.1]).await.unwrap();
        if rows.is_empty() {
            break;
        }
        pages += 1;
        assert!(rows.len() as i64 <= PAGE);
        for row in &rows {
            let key: (i32, i32) = (row.get(0), row.get(1));
            let v: String = row.get(2);
            assert_eq!(v, format!("v{}", key.0 * 37 + key.1), "the row of {key:?}");
            assert!(key > after, "{key:?} after {after:?}, in key order");
            seen.push(key);
            after = key;
        }
    }
    assert_eq!(pages, ROWS as i64 / PAGE);
    let expected: Vec<(i32, i32)> = (0..ROWS).map(|g| (g / 37, g % 37)).collect();
    assert_eq!(seen, expected, "every row once, in order");

    // A page reads LIMIT rows on each shard, at the start of the table as
    // at its end, however large the table is.
    let shards = server.shards() as u64;
    for (a, b) in [(-1, -1), (270, 18), (540, 0)] {
        let sql =
            format!("SELECT a, b, v FROM pairs WHERE (a, b) > ({a}, {b}) ORDER BY a, b LIMIT 100");
        let read = analyzed_rows(&client, &sql, "Index Scan using pairs_pkey").await;
        assert!(
            read <= shards * PAGE as u64,
            "{read} rows read for a page after ({a}, {b})"
        );
        assert!(
            read >= PAGE as u64 || a == 540,
            "{read} rows read after ({a}, {b})"
        );
    }
    // Backwards, with an OFFSET: LIMIT + OFFSET per shard.
    let sql =
        "SELECT a, b FROM pairs WHERE (a, b) < (300, 5) ORDER BY a DESC, b DESC LIMIT 10 OFFSET 20";
    let read = analyzed_rows(&client, sql, "Index Scan using pairs_pkey").await;
    assert!((30..=shards * 30).contains(&read), "{read} rows read");
    let rows = client.query(sql, &[]).await.unwrap();
    let first: (i32, i32) = (rows[0].get(0), rows[0].get(1));
    assert_eq!((rows.len(), first), (10, (299, 21)));
    // Without a path, the whole table: what the counts above are not.
    let read = analyzed_rows(&client, "SELECT a FROM pairs WHERE v <> ''", "Seq Scan").await;
    assert_eq!(read, ROWS as u64);
}

#[tokio::test]
async fn explain_shows_the_range_and_the_merge() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    fill(&client).await;
    let plan = explain(
        &client,
        "EXPLAIN SELECT * FROM pairs WHERE (a, b) > (3, 4) ORDER BY a, b LIMIT 5",
    )
    .await;
    assert!(
        plan.contains("Index Scan using pairs_pkey on pairs"),
        "{plan}"
    );
    assert!(plan.contains("Index Cond: ((a, b) > (3, 4))"), "{plan}");
    assert!(
        plan.contains("Merge (of the shards' ordered rows)"),
        "{plan}"
    );
    assert!(
        !plan.contains("Sort\n") && !plan.contains("Seq Scan"),
        "{plan}"
    );
    let plan = explain(
        &client,
        "EXPLAIN SELECT * FROM pairs WHERE a BETWEEN 10 AND 20",
    )
    .await;
    assert!(
        plan.contains("Index Cond: ((a >= 10) AND (a <= 20))"),
        "{plan}"
    );
    let plan = explain(&client, "EXPLAIN DELETE FROM pairs WHERE a = 7 AND b > 30").await;
    assert!(
        plan.contains("Index Cond: ((a = 7) AND (b > 30))"),
        "{plan}"
    );
    // A bound that is not exactly a key value: the filter decides alone.
    let plan = explain(&client, "EXPLAIN SELECT * FROM pairs WHERE a > 2.5").await;
    assert!(plan.contains("Seq Scan on pairs"), "{plan}");

    // A secondary index's range starts at the whole row too.
    client
        .batch_execute("CREATE INDEX pairs_vb ON pairs (b, a)")
        .await
        .unwrap();
    let sql = "SELECT b, a FROM pairs WHERE (b, a) > (20, 500) ORDER BY b, a LIMIT 10";
    let plan = explain(&client, &format!("EXPLAIN {sql}")).await;
    assert!(plan.contains("Index Scan using pairs_vb"), "{plan}");
    assert!(plan.contains("Index Cond: ((b, a) > (20, 500))"), "{plan}");
    let read = analyzed_rows(&client, sql, "Index Scan using pairs_vb").await;
    assert!(read <= 2 * 10, "{read} rows read");
    let rows = client.query(sql, &[]).await.unwrap();
    let first: (i32, i32) = (rows[0].get(0), rows[0].get(1));
    assert_eq!(first, (20, 501));
}

#[tokio::test]
async fn a_range_sees_its_own_block_and_not_others_uncommitted_rows() {
    let server = TestServer::start_with_shards(2);
    let writer = server.connect().await;
    let reader = server.connect().await;
    fill(&writer).await;
    let keys = |rows: Vec<tokio_postgres::Row>| -> Vec<(i32, i32)> {
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    let page = "SELECT a, b FROM pairs WHERE (a, b) > ($1, $2) ORDER BY a, b LIMIT 3";
    let last = "SELECT a, b FROM pairs WHERE (a, b) > ($1, $2) ORDER BY a DESC, b DESC LIMIT 2";
    writer
        .batch_execute(
            "BEGIN;
             INSERT INTO pairs VALUES (540, 100, 'mine'), (1000, 0, 'far');
             DELETE FROM pairs WHERE a = 540 AND b = 18",
        )
        .await
        .unwrap();
    let from = [
        &540i32 as &(dyn tokio_postgres::types::ToSql + Sync),
        &16i32,
    ];
    let own = keys(writer.query(page, &from).await.unwrap());
    assert_eq!(own, vec![(540, 17), (540, 19), (540, 100)]);
    let own = keys(writer.query(last, &from).await.unwrap());
    assert_eq!(own, vec![(1000, 0), (540, 100)]);
    let others = keys(reader.query(page, &from).await.unwrap());
    assert_eq!(
        others,
        vec![(540, 17), (540, 18), (540, 19)],
        "uncommitted rows are not seen"
    );
    let others = keys(reader.query(last, &from).await.unwrap());
    assert_eq!(others, vec![(540, 19), (540, 18)]);
    writer.batch_execute("COMMIT").await.unwrap();
    let after = keys(reader.query(page, &from).await.unwrap());
    assert_eq!(after, vec![(540, 17), (540, 19), (540, 100)]);
}

#[tokio::test]
async fn a_snapshot_older_than_the_index_still_gets_its_order() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    let other = server.connect().await;
    fill(&client).await;
    // The snapshot is taken before the index exists: the shards read the
    // table, not in the index's order, and the router sorts their rows.
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pairs")
        .await
        .unwrap();
    other
        .batch_execute("CREATE INDEX pairs_ba ON pairs (b, a)")
        .await
        .unwrap();
    let sql = "SELECT b, a FROM pairs WHERE b > 30 ORDER BY b, a LIMIT 4";
    let plan = explain(&client, &format!("EXPLAIN {sql}")).await;
    assert!(plan.contains("Index Scan using pairs_ba"), "{plan}");
    let rows = client.query(sql, &[]).await.unwrap();
    let keys: Vec<(i32, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(keys, vec![(31, 0), (31, 1), (31, 2), (31, 3)]);
    client.batch_execute("COMMIT").await.unwrap();
    let rows = client.query(sql, &[]).await.unwrap();
    let keys: Vec<(i32, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(keys, vec![(31, 0), (31, 1), (31, 2), (31, 3)]);
}
