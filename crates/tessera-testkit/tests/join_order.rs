//! Column statistics at work: after ANALYZE the binder orders joins by
//! the columns' distinct values, and a table that grows enough is
//! analyzed again without being asked.

use std::time::{Duration, Instant};

use tessera_testkit::{rows_text, TestServer};

/// The tables of the `Seq Scan`s of a plan, in the order it prints them
/// (a left-deep join's items in the order they are joined).
fn scans(plan: &[String]) -> Vec<String> {
    plan.iter()
        .filter_map(|l| l.split("Seq Scan on ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

/// TPC-H's Q5 on a small copy of its schema: customers and suppliers
/// meet on their nation (25 values), which without statistics looks as
/// selective as a key of 200 values.
const Q5: &str =
    "SELECT n_name, sum(l_price) FROM customer, orders, lineitem, supplier, nation, region
    WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
      AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
      AND r_name = 'r2' AND o_orderdate >= date '1994-01-01'
      AND o_orderdate < date '1994-01-01' + interval '1' year
    GROUP BY n_name ORDER BY n_name";

#[tokio::test]
async fn analyze_orders_q5_by_the_nations_distinct_values() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE region (r_regionkey int PRIMARY KEY, r_name text);
             CREATE TABLE nation (n_nationkey int PRIMARY KEY, n_name text, n_regionkey int);
             CREATE TABLE supplier (s_suppkey int PRIMARY KEY, s_nationkey int);
             CREATE TABLE customer (c_custkey int PRIMARY KEY, c_nationkey int);
             CREATE TABLE orders (o_orderkey int PRIMARY KEY, o_custkey int, o_orderdate date);
             CREATE TABLE lineitem (l_orderkey int, l_linenumber int, l_suppkey int,
                 l_price numeric(10,2), PRIMARY KEY (l_orderkey, l_linenumber));
             INSERT INTO region SELECT g, 'r' || g FROM generate_series(0, 4) g;
             INSERT INTO nation SELECT g, 'n' || g, g % 5 FROM generate_series(0, 24) g;
             INSERT INTO supplier SELECT g, g % 25 FROM generate_series(1, 200) g;
             INSERT INTO customer SELECT g, g % 25 FROM generate_series(1, 3000) g;
             INSERT INTO orders SELECT g, g::bigint * g % 2999 + 1, date '1992-01-01' + g % 2400
                 FROM generate_series(1, 12000) g;
             INSERT INTO lineitem SELECT g / 4, g % 4, g::bigint * g % 199 + 1, g % 1000
                 FROM generate_series(4, 48003) g;",
        )
        .await
        .unwrap();
    let before = rows_text(&client, Q5).await;
    client.batch_execute("ANALYZE").await.unwrap();
    let plan = rows_text(&client, &format!("EXPLAIN {Q5}")).await;
    // The region's nations, their customers, those customers' orders of
    // the year and their lines, and only then the lines' suppliers (of
    // the customer's nation): never every supplier of the region paired
    // with every customer of the region.
    assert_eq!(
        scans(&plan),
        ["region", "nation", "customer", "orders", "lineitem", "supplier"],
        "{plan:#?}"
    );
    // Customers meet nations through the equality the written ones imply.
    assert!(
        plan.iter()
            .any(|l| l.contains("Hash Cond: nation.n_nationkey = customer.c_nationkey")),
        "{plan:#?}"
    );
    assert_eq!(rows_text(&client, Q5).await, before);
    assert_eq!(before.len(), 5, "the region's five nations: {before:?}");
}

#[tokio::test]
async fn a_table_that_grows_is_analyzed_again_without_asking() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE c (id int PRIMARY KEY, name text);
             CREATE TABLE o (id int PRIMARY KEY, cid int, v int);
             INSERT INTO c SELECT g, 'c' || g FROM generate_series(1, 500) g;
             INSERT INTO o SELECT g, g % 500 + 1, 1000 + g % 1000 FROM generate_series(1, 10000) g;
             ANALYZE;",
        )
        .await
        .unwrap();
    // v < 1000 is below every analyzed value: few orders, read first.
    let query = "EXPLAIN SELECT c.name FROM c JOIN o ON o.cid = c.id WHERE o.v < 1000";
    let analyzed = scans(&rows_text(&client, query).await);
    assert_eq!(analyzed, ["o", "c"]);
    // Three times the rows, the new ones below 1000: once the shards
    // have analyzed them (from their periodic statistics), the customers
    // are the fewer.
    client
        .batch_execute(
            "INSERT INTO o SELECT g, g % 500 + 1, g % 1000 FROM generate_series(10001, 30000) g",
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = scans(&rows_text(&client, query).await);
        if now == ["c", "o"] {
            break;
        }
        assert!(Instant::now() < deadline, "still {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
