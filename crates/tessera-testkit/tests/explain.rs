//! EXPLAIN prints the plan tree with where each part runs; EXPLAIN
//! ANALYZE runs the query and reports the rows each operator produced.

use tessera_testkit::{assert_sqlstate, rows_text, TestServer};
use tokio_postgres::error::SqlState;

async fn plan(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    rows_text(client, sql).await
}

/// The `rows=N` of the first line containing `operator`.
fn actual_rows(lines: &[String], operator: &str) -> usize {
    let line = lines
        .iter()
        .find(|l| l.contains(operator))
        .unwrap_or_else(|| panic!("no {operator} in {lines:#?}"));
    let at = line
        .find("rows=")
        .unwrap_or_else(|| panic!("no rows= in {line}"))
        + 5;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no row count in {line}"))
}

#[tokio::test]
async fn explain_shows_operators_shards_and_actual_rows() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE c (id int PRIMARY KEY, city text);
             CREATE TABLE o (id int PRIMARY KEY, cid int, total int);
             INSERT INTO c SELECT g, 'c' || (g % 5) FROM generate_series(1, 100) g;
             INSERT INTO o SELECT g, g % 100 + 1, g % 37 FROM generate_series(1, 10000) g;
             CREATE INDEX o_cid ON o (cid);
             ANALYZE;",
        )
        .await
        .unwrap();

    let point = plan(&client, "EXPLAIN SELECT * FROM c WHERE id = 5").await;
    assert_eq!(
        point,
        [
            "Point Lookup on c (primary key) (on 1 shard, by sharding key)",
            "  Filter: (id = 5)"
        ]
    );
    let sorted = plan(&client, "EXPLAIN SELECT city FROM c ORDER BY city LIMIT 3").await;
    assert_eq!(sorted[0], "Limit");
    assert!(sorted[1].contains("->  Sort"), "{sorted:#?}");
    assert!(sorted
        .iter()
        .any(|l| l.contains("Seq Scan on c (on all 2 shards)")));
    let index = plan(&client, "EXPLAIN SELECT * FROM o WHERE cid = 7").await;
    assert!(
        index[0].starts_with("Index Scan using o_cid on o"),
        "{index:#?}"
    );

    // Rows as the query really produced them; the statement's result unchanged.
    let analyzed = plan(
        &client,
        "EXPLAIN ANALYZE SELECT c.city, sum(o.total) FROM c JOIN o ON o.cid = c.id
         WHERE o.total > 10 GROUP BY c.city ORDER BY 1",
    )
    .await;
    let filtered: usize = rows_text(&client, "SELECT count(*) FROM o WHERE total > 10").await[0]
        .parse()
        .unwrap();
    // The customers are fewer than the orders expected past the filter
    // (10000 rows, a third kept): they come first, and their 100 ids,
    // few next to the orders, read them through the index on o.cid.
    assert_eq!(actual_rows(&analyzed, "Seq Scan on c"), 100);
    assert_eq!(
        actual_rows(
            &analyzed,
            "Index Scan using o_cid on o (100 keys, on all 2 shards)"
        ),
        filtered
    );
    assert_eq!(actual_rows(&analyzed, "Nested Loop"), filtered);
    assert_eq!(actual_rows(&analyzed, "HashAggregate"), 5);
    assert!(
        analyzed
            .iter()
            .any(|l| l.contains("Index Cond: c.id = o.cid")),
        "{analyzed:#?}"
    );
    // Without ANALYZE, the choice is stated as the rule it follows.
    let planned = plan(
        &client,
        "EXPLAIN SELECT c.city FROM c JOIN o ON o.cid = c.id WHERE o.total > 10",
    )
    .await;
    assert!(
        planned
            .iter()
            .any(|l| l
                .contains("Index Lookup: o_cid (cid) when the left side has at most 250000 keys")),
        "{planned:#?}"
    );
    // No key to read the other side by: a hash join over both whole.
    let hashed = plan(
        &client,
        "EXPLAIN ANALYZE SELECT count(*) FROM c JOIN o ON o.total = c.id % 37",
    )
    .await;
    let joined: usize = rows_text(
        &client,
        "SELECT count(*) FROM c JOIN o ON o.total = c.id % 37",
    )
    .await[0]
        .parse()
        .unwrap();
    assert_eq!(actual_rows(&hashed, "Hash Join"), joined);
    // Two tables joined on their primary keys, the left side too large to
    // read the right by key: their shards' rows, in key order, are merged.
    client
        .batch_execute(
            "CREATE TABLE a (id int PRIMARY KEY, v int);
             CREATE TABLE b (aid int, n int, PRIMARY KEY (aid, n));
             INSERT INTO a SELECT g, g FROM generate_series(1, 25000) g;
             INSERT INTO b SELECT g / 2, g % 2 FROM generate_series(2, 50001) g;
             ANALYZE a, b;",
        )
        .await
        .unwrap();
    let merged = plan(
        &client,
        "EXPLAIN ANALYZE SELECT count(*) FROM a JOIN b ON b.aid = a.id",
    )
    .await;
    assert_eq!(actual_rows(&merged, "Merge Join"), 50000);
    assert!(
        merged
            .iter()
            .any(|l| l.contains("Merge Cond: a.id = b.aid")),
        "{merged:#?}"
    );
    assert_eq!(actual_rows(&hashed, "Seq Scan on c"), 100);
    assert_eq!(actual_rows(&hashed, "Seq Scan on o"), 10000);
    assert!(
        analyzed.last().unwrap().starts_with("Execution Time:"),
        "{analyzed:#?}"
    );

    // Not supported: said so, with 0A000.
    assert_sqlstate(
        client.simple_query("EXPLAIN (FORMAT JSON) SELECT 1").await,
        &SqlState::FEATURE_NOT_SUPPORTED,
        "FORMAT JSON",
    );
    assert_sqlstate(
        client.simple_query("EXPLAIN ANALYZE DELETE FROM o").await,
        &SqlState::FEATURE_NOT_SUPPORTED,
        "EXPLAIN ANALYZE DELETE",
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM o").await,
        ["10000"]
    );
    // Through the extended protocol too.
    let rows = client
        .query("EXPLAIN SELECT * FROM c WHERE id = $1", &[&5i32])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, String>(0), point[0]);
}

/// A correlated aggregate over two tables becomes a grouped join item;
/// EXPLAIN says its groups may be read by the outer keys, EXPLAIN ANALYZE
/// how many keys read them and that only their groups came back.
#[tokio::test]
async fn explain_shows_a_decorrelated_aggregate_read_by_the_outer_keys() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE p (id int PRIMARY KEY, size int);
             CREATE TABLE s (id int PRIMARY KEY, region int);
             CREATE TABLE ps (pid int, sid int, cost int, PRIMARY KEY (pid, sid));
             INSERT INTO p SELECT g, g % 50 FROM generate_series(1, 2000) g;
             INSERT INTO s SELECT g, g % 3 FROM generate_series(1, 20) g;
             INSERT INTO ps SELECT p, s, (p * s) % 97 FROM generate_series(1, 2000) p, generate_series(1, 4) s;
             ANALYZE;",
        )
        .await
        .unwrap();
    let query = "SELECT p.id, ps.cost FROM p, ps WHERE p.id = ps.pid AND p.size = 7 \
                 AND ps.cost = (SELECT min(ps2.cost) FROM ps ps2, s WHERE ps2.pid = p.id \
                 AND s.id = ps2.sid AND s.region = 1)";
    let lines = plan(&client, &format!("EXPLAIN {query}")).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Group Lookup: only the groups of the left side's keys")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("SubPlan")), "{lines:#?}");
    let lines = plan(&client, &format!("EXPLAIN ANALYZE {query}")).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Group Lookup: the groups of 40 left keys")),
        "{lines:#?}"
    );
    assert!(actual_rows(&lines, "Subquery Scan") <= 40, "{lines:#?}");
    let answer = plan(&client, query).await;
    assert!(!answer.is_empty());
}
