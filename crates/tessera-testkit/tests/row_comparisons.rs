//! Row constructors through a real driver: keyset pagination with
//! parameters (`(created, id) > ($1, $2)`, prepared once, paged to the
//! end), the plans row conditions get (a row equality on a two-column
//! primary key is a point lookup on one shard, a list of keys reads only
//! those keys, a row bound on an index is an index range scan), records
//! sent in both formats, and the limits. `slt/row_comparisons.slt` covers
//! the semantics against PostgreSQL's answers.

use tessera_testkit::{assert_sqlstate, rows_text, TestServer};
use tokio_postgres::error::SqlState;

async fn setup(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "CREATE TABLE ev (created int, id int, body text, PRIMARY KEY (created, id));
             INSERT INTO ev SELECT g / 7, g, 'e' || g FROM generate_series(1, 500) g;
             CREATE TABLE tagged (tag text, n int, PRIMARY KEY (n));
             CREATE INDEX tagged_tag_n ON tagged (tag, n);
             INSERT INTO tagged SELECT 't' || (g % 10), g FROM generate_series(1, 300) g;",
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn keyset_pagination_with_parameters_reads_every_row_once_in_order() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    setup(&client).await;
    let page = client
        .prepare(
            "SELECT created, id FROM ev WHERE (created, id) > ($1, $2) \
             ORDER BY created, id LIMIT 20",
        )
        .await
        .unwrap();
    let mut seen: Vec<(i32, i32)> = Vec::new();
    let mut after = (i32::MIN, i32::MIN);
    loop {
        let rows = client.query(&page, &[&after.0, &after.1]).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 20);
        for r in &rows {
            seen.push((r.get(0), r.get(1)));
        }
        after = *seen.last().unwrap();
    }
    let expected: Vec<(i32, i32)> = (1..=500).map(|g| (g / 7, g)).collect();
    assert_eq!(seen, expected);

    // A NULL parameter makes the comparison NULL where the first pair
    // ties, not where it decides.
    let rows = client
        .query(
            "SELECT id FROM ev WHERE (created, id) >= ($1, $2) ORDER BY id",
            &[&70i32, &None::<i32>],
        )
        .await
        .unwrap();
    let ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, (497..=500).collect::<Vec<_>>());

    // (a, b) IN (SELECT …) and a row subquery with parameters.
    let rows = client
        .query(
            "SELECT count(*) FROM ev WHERE (created, id) IN \
             (SELECT created, id + $1 FROM ev WHERE id < $2)",
            &[&1i32, &50i32],
        )
        .await
        .unwrap();
    // id + 1 stays in the same `created` group except at multiples of 7.
    let expected = (1..50).filter(|g| (g + 1) / 7 == g / 7).count() as i64;
    assert_eq!(rows[0].get::<_, i64>(0), expected);
}

#[tokio::test]
async fn row_conditions_route_and_use_keys_and_indexes() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    setup(&client).await;

    let point = rows_text(
        &client,
        "EXPLAIN SELECT * FROM ev WHERE (created, id) = (3, 22)",
    )
    .await;
    assert_eq!(
        point[0], "Point Lookup on ev (primary key) (on 1 shard, by sharding key)",
        "{point:#?}"
    );
    assert_eq!(
        rows_text(&client, "SELECT body FROM ev WHERE (created, id) = (3, 22)").await,
        ["e22"]
    );

    let list = rows_text(
        &client,
        "EXPLAIN ANALYZE SELECT * FROM ev WHERE (created, id) IN ((3, 22), (9, 63), (1, 1))",
    )
    .await;
    assert!(
        list[0].starts_with("Index Scan using ev_pkey (3 keys) on ev"),
        "{list:#?}"
    );
    assert!(list[0].contains("rows=2"), "{list:#?}");
    let found = rows_text(
        &client,
        "SELECT id FROM ev WHERE (created, id) IN ((3, 22), (9, 63), (1, 1), (3, 22)) ORDER BY id",
    )
    .await;
    assert_eq!(found, ["22", "63"]);

    // Keyset over an index: a range scan from the row's first value.
    let keyset = rows_text(
        &client,
        "EXPLAIN SELECT tag, n FROM tagged WHERE (tag, n) > ('t3', 100) ORDER BY tag, n LIMIT 5",
    )
    .await;
    assert!(
        keyset
            .iter()
            .any(|l| l.contains("Index Scan using tagged_tag_n on tagged")),
        "{keyset:#?}"
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT tag, n FROM tagged WHERE (tag, n) > ('t3', 100) ORDER BY tag, n LIMIT 3"
        )
        .await,
        ["t3|103", "t3|113", "t3|123"]
    );

    // Past KEY_LIST_MAX keys the list is a filter over a scan: same rows.
    let many: Vec<String> = (0..10_001).map(|i| format!("({}, {})", i / 7, i)).collect();
    let sql = format!(
        "SELECT count(*) FROM ev WHERE (created, id) IN ({})",
        many.join(", ")
    );
    let explain = rows_text(&client, &format!("EXPLAIN {sql}")).await;
    assert!(
        explain.iter().any(|l| l.contains("Seq Scan on ev")),
        "{explain:#?}"
    );
    assert_eq!(rows_text(&client, &sql).await, ["500"]);
}

#[tokio::test]
async fn records_in_both_formats_and_the_field_limit() {
    let server = TestServer::start_with_shards(1);
    let client = server.connect().await;
    assert_eq!(
        rows_text(&client, "SELECT (1, 'a b'), ROW(NULL, 2)").await,
        ["(1,\"a b\")|(,2)"]
    );
    // Binary: record_send (the field count, then each field's oid,
    // length and bytes).
    let stmt = client
        .prepare("SELECT ROW($1::int, 'x', NULL::int)")
        .await
        .unwrap();
    assert_eq!(stmt.columns()[0].type_().oid(), 2249);
    let row = client.query_one(&stmt, &[&7i32]).await.unwrap();
    let Raw(bytes) = row.get(0);
    let mut expected = Vec::new();
    expected.extend(3i32.to_be_bytes());
    expected.extend(23u32.to_be_bytes());
    expected.extend(4i32.to_be_bytes());
    expected.extend(7i32.to_be_bytes());
    expected.extend(25u32.to_be_bytes());
    expected.extend(1i32.to_be_bytes());
    expected.push(b'x');
    expected.extend(25u32.to_be_bytes());
    expected.extend((-1i32).to_be_bytes());
    assert_eq!(bytes, expected);
    // Limits: ROW_FIELDS_MAX fields.
    let fields = vec!["1"; 1665].join(", ");
    assert_sqlstate(
        client.simple_query(&format!("SELECT ROW({fields})")).await,
        &SqlState::TOO_MANY_COLUMNS,
        "a row of 1665 fields",
    );
    let fields = vec!["1"; 1664].join(", ");
    let rows = rows_text(&client, &format!("SELECT ROW({fields}) IS NOT NULL")).await;
    assert_eq!(rows, ["t"]);
    // The widest rows compare field by field without exhausting a stack.
    let higher = format!("{}, 2", vec!["1"; 1663].join(", "));
    let rows = rows_text(
        &client,
        &format!(
            "SELECT ({fields}) < ({higher}), ({fields}) = ({higher}), ({fields}) >= ({fields}), \
             ({fields}) IS DISTINCT FROM ({higher})"
        ),
    )
    .await;
    assert_eq!(rows, ["t|f|t|t"]);
    // Mismatched rows are PostgreSQL's errors.
    assert_sqlstate(
        client.simple_query("SELECT (1, 2) = (1, 2, 3)").await,
        &SqlState::SYNTAX_ERROR,
        "rows of different widths",
    );
    assert_sqlstate(
        client
            .simple_query("SELECT (1, 2) = (SELECT g, g FROM generate_series(1, 2) g)")
            .await,
        &SqlState::CARDINALITY_VIOLATION,
        "a row subquery with two rows",
    );
}

/// A value's bytes as the server sent them, whatever its type.
struct Raw(Vec<u8>);

impl<'a> tokio_postgres::types::FromSql<'a> for Raw {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Raw, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}
